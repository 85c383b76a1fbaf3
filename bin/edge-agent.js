#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=1
// Entry point for `edge-agent` (npm bin, /usr/bin/edge-agent in the .deb). dist/ is built by `npm run build` in a
// checkout (scripts/setup.sh) and ships prebuilt in the npm tarball and the Debian packages.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// Checked before anything else loads (the rest of the code may use newer syntax and APIs). sysexits EX_UNAVAILABLE.
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const needed = Number(/\d+/.exec(pkg.engines?.node ?? '20')?.[0] ?? 20);
if (Number(process.versions.node.split('.')[0]) < needed) {
  process.stderr.write(`edge-agent: Node.js ${process.versions.node} is too old: edge-agent needs Node.js ${needed} or newer (Debian 13: apt install nodejs; Debian 12 / Raspberry Pi OS: NodeSource nodejs 20.x or 22.x)\n`);
  process.exit(69);
}
// A Debian package is for one CPU (its native libraries): node of another architecture exits 69 saying which to install.
const packageArch = new URL('../.package-arch', import.meta.url);
if (existsSync(packageArch)) {
  const [deb, nodeArch] = readFileSync(packageArch, 'utf8').trim().split(' ');
  if (nodeArch && nodeArch !== process.arch) {
    const want = { x64: 'amd64', arm64: 'arm64', arm: 'armhf' }[process.arch] ?? process.arch;
    process.stderr.write(`edge-agent: this is the ${deb} package but node runs as ${process.arch}: install edge-agent_${pkg.version}_${want}.deb instead\n`);
    process.exit(69);
  }
}
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  process.stdout.write(`${pkg.version}\n`);
  process.exit(0);
}

// `node bin/edge-agent.js` (the README's form) skips the #! line, and with it the memory settings it carries:
// start once more with them (glibc reads MALLOC_ARENA_MAX only at process start). The #! line stays the one source.
const self = fileURLToPath(import.meta.url);
const [, bang = ''] = /^#!\/usr\/bin\/env -S (.*)$/m.exec(readFileSync(self, 'utf8').split('\n')[0]) ?? [];
const words = bang.split(/\s+/).filter(Boolean);
const env = Object.fromEntries(words.filter((w) => /^[A-Z_]+=/.test(w)).map((w) => w.split('=')));
const flags = words.filter((w) => w.startsWith('--'));
const has = (f) => [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((a) => a.split('=')[0] === f.split('=')[0]);
const missing = flags.filter((f) => !has(f)).length > 0 || Object.keys(env).some((k) => process.env[k] === undefined);
// Under systemd (NOTIFY_SOCKET) the agent must be the main PID itself: the unit passes the flags (systemd/).
if (missing && !process.env.EDGE_AGENT_REEXEC && !process.env.NOTIFY_SOCKET) {
  const child = spawn(process.execPath, [...flags.filter((f) => !has(f)), ...process.execArgv, self, ...args], {
    stdio: 'inherit',
    env: { ...env, ...process.env, EDGE_AGENT_REEXEC: '1' },
  });
  // The child is the agent: termination and reload signals go to it; Ctrl-C reaches it through the terminal's group.
  for (const s of ['SIGTERM', 'SIGHUP', 'SIGUSR1', 'SIGUSR2']) process.on(s, () => child.kill(s));
  process.on('SIGINT', () => undefined);
  child.on('exit', (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    } else process.exit(code ?? 1);
  });
} else {
  if (process.env.EDGE_AGENT_REEXEC) {
    // Started by the lines above: a wrapper killed outright (SIGKILL) takes the agent with it, as if it were one process.
    const parent = process.ppid;
    setInterval(() => process.ppid !== parent && process.kill(process.pid, 'SIGKILL'), 200).unref();
    delete process.env.EDGE_AGENT_REEXEC; // not inherited by what the agent starts
  }
  const main = fileURLToPath(new URL('../dist/agent/cli/main.js', import.meta.url));
  if (!existsSync(main)) {
    process.stderr.write('edge-agent: not built yet: run `npm run build` in the project folder first (scripts/setup.sh does it)\n');
    process.exit(1);
  }
  const { cli } = await import(main);
  process.exitCode = await cli(args);
}
