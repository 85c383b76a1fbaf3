#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=1
// Entry point for `edge-agent` (npm bin, /usr/bin/edge-agent in the .deb). dist/ is built by `npm run build` in a
// checkout (scripts/setup.sh) and ships prebuilt in the npm tarball and the Debian packages.
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
const main = fileURLToPath(new URL('../dist/agent/cli/main.js', import.meta.url));
if (!existsSync(main)) {
  process.stderr.write('edge-agent: not built yet: run `npm run build` in the project folder first (scripts/setup.sh does it)\n');
  process.exit(1);
}
const { cli } = await import(main);
process.exitCode = await cli(args);
