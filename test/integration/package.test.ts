/**
 * Release artefacts as a user installs them: `npm run package`'s builder makes the npm tarball and the amd64 .deb;
 * the tarball installs with `npm i -g` into a clean prefix and runs; the .deb is unpacked into a staging root with its
 * maintainer scripts run there (DPKG_ROOT, as `dpkg --root` sets it), and the installed agent runs doctor and a
 * known-answer inference. Upgrade keeps the edited config, the state and the outbox; purge removes them.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { repoRoot } from '../helpers/cli.js';
import { writeScene } from '../../scripts/demo-scene/index.js';
import { expectSameDetections, sh, type Detection } from './qemu-lane.js';

const out = mkdtempSync(join(tmpdir(), 'edge-agent-pkg-'));
const run = sh;
// Builds, installs and benchmarks: minutes on a busy 2-core CI machine.
vi.setConfig({ testTimeout: 300_000 });

let demoFrame: string;
let deb: string;
let tarball: string;
let buildOut: string;

beforeAll(async () => {
  // A frame of the demo clip (seed never used in training) with parts on the belt.
  const scene = join(out, 'scene');
  await writeScene(scene, { seed: 4242, parts: 3 });
  demoFrame = join(out, 'frame.png');
  expect((await run('ffmpeg', ['-v', 'error', '-i', join(scene, 'conveyor.mp4'), '-vf', 'select=eq(n\\,40)', '-frames:v', '1', '-y', demoFrame])).status).toBe(0);
  const r = await run(process.execPath, [join(repoRoot, 'dist', 'scripts', 'package', 'build.js'), '--arch', 'amd64', '--out', out]);
  buildOut = r.stdout;
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  deb = join(out, 'edge-agent_0.1.0_amd64.deb');
  tarball = join(out, 'edge-agent-0.1.0.tgz');
}, 400_000);
// The installed root and the packages: about 1.4 GB per run.
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('npm tarball', () => {
  it('holds the built dist/ and the lock file as npm-shrinkwrap.json, not the sources or tests', async () => {
    const files = (await run('tar', ['-tzf', tarball])).stdout.split('\n');
    expect(files).toContain('package/dist/agent/cli/main.js');
    expect(files).toContain('package/npm-shrinkwrap.json');
    expect(files).toContain('package/models/conveyor-demo/manifest.json');
    expect(files.some((f) => f.startsWith('package/test/') || f.startsWith('package/agent/') || f.endsWith('.map'))).toBe(false);
  });

  it('installs with `npm i -g` into a clean prefix; --version and doctor run there', async () => {
    const prefix = join(out, 'prefix');
    const i = await run('npm', ['i', '-g', '--prefix', prefix, tarball, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], { env: { ONNXRUNTIME_NODE_INSTALL: 'skip' } });
    expect(i.status, i.stderr).toBe(0);
    const bin = join(prefix, 'bin', 'edge-agent');
    const v = await run(bin, ['--version'], { cwd: out });
    expect(v.status).toBe(0);
    expect(v.stdout).toBe('0.1.0\n');
    const d = await run(bin, ['doctor'], { cwd: out, timeout: 120_000 });
    expect(d.status, d.stderr).toBe(0);
    expect(d.stdout).toMatch(/^edge-agent 0\.1\.0 \(node /);
    // npm i -g does not apply the tarball's npm-shrinkwrap.json to the package itself: the packed package.json names the
    // lock file's exact versions, so this route installs the tested onnxruntime-node as the .deb does.
    const locked = (JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> }).packages['node_modules/onnxruntime-node']!.version;
    expect(d.stdout).toContain(`onnxruntime   yes (onnxruntime-node ${locked})`);
    expect(d.stdout).toMatch(/^Selected: student-/m);
  });

  it('installs the same versions with npm 10 (the npm of Node 20, which runs install scripts: --ignore-scripts, as docs/packages.md says)', async () => {
    // npm 10 comes from the npm registry (the only registry this machine and CI reach), as a user would run it.
    const prefix = join(out, 'prefix-npm10');
    const i = await run('npx', ['-y', 'npm@10', 'i', '-g', '--prefix', prefix, tarball, '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], { env: { ONNXRUNTIME_NODE_INSTALL: 'skip' }, timeout: 300_000 });
    expect(i.status, i.stderr).toBe(0);
    const lock = (JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> }).packages;
    const nm = join(prefix, 'lib', 'node_modules', 'edge-agent', 'node_modules');
    for (const dep of ['onnxruntime-node', 'tfjs-tflite-node', 'mqtt', 'zod']) {
      expect((JSON.parse(readFileSync(join(nm, dep, 'package.json'), 'utf8')) as { version: string }).version, dep).toBe(lock[`node_modules/${dep}`]!.version);
    }
    const d = await run(join(prefix, 'bin', 'edge-agent'), ['doctor'], { cwd: out, timeout: 120_000 });
    expect(d.status, d.stderr).toBe(0);
    expect(d.stdout).toMatch(/^ {2}tflite {8}yes /m);
  }, 400_000);
});

describe('amd64 .deb', () => {
  const stage = join(out, 'stage');
  const R = join(stage, 'root');
  const ctl = join(stage, 'DEBIAN');
  const maint = async (script: string, ...args: string[]) => {
    const r = await run('sh', [join(ctl, script), ...args], { env: { DPKG_ROOT: R } });
    expect(r.status, r.stderr).toBe(0);
  };
  const node = (args: string[], cwd = stage) => run(process.execPath, [join(R, 'opt/edge-agent/bin/edge-agent.js'), ...args], { cwd, timeout: 120_000 });

  it('prints its installed size; control, conffiles and files are where Debian and systemd look', async () => {
    expect(buildOut).toMatch(/^amd64 +\S+edge-agent_0\.1\.0_amd64\.deb +installed \d+\.\d MB, \.deb \d+\.\d MB$/m);
    mkdirSync(R, { recursive: true });
    expect((await run('dpkg-deb', ['-x', deb, R])).status).toBe(0);
    expect((await run('dpkg-deb', ['-e', deb, ctl])).status).toBe(0);
    const control = readFileSync(join(ctl, 'control'), 'utf8');
    expect(control).toMatch(/^Architecture: amd64$/m);
    expect(control).toMatch(/^Depends: nodejs \(>= 20\), ffmpeg$/m);
    expect(readFileSync(join(ctl, 'conffiles'), 'utf8')).toBe('/etc/edge-agent/config.yaml\n');
    for (const f of ['lib/systemd/system/edge-agent.service', 'usr/lib/sysusers.d/edge-agent.conf', 'lib/udev/rules.d/99-edge-agent.rules', 'etc/edge-agent/config.yaml', 'opt/edge-agent/dist/agent/cli/main.js']) {
      expect(existsSync(join(R, f)), f).toBe(true);
    }
    expect(readlinkSync(join(R, 'usr/bin/edge-agent'))).toBe('/opt/edge-agent/bin/edge-agent.js');
    // Only this architecture's native code; no tfjs JavaScript, no dev dependencies.
    const nm = join(R, 'opt/edge-agent/node_modules');
    expect(existsSync(join(nm, 'onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node'))).toBe(true);
    for (const gone of ['onnxruntime-node/bin/napi-v6/linux/arm64', 'onnxruntime-node/bin/napi-v6/win32', 'onnxruntime-node/bin/napi-v6/darwin', 'tfjs-tflite-node/cc_deps/linux_arm64', '@tensorflow', 'typescript', 'vitest']) {
      expect(existsSync(join(nm, gone)), gone).toBe(false);
    }
    expect(existsSync(join(nm, 'tfjs-tflite-node/cc_deps/linux_amd64/libtensorflowlite_c.so'))).toBe(true);
    expect(existsSync(join(nm, 'onnxruntime-web/dist/ort-wasm-simd-threaded.wasm'))).toBe(true);
  });

  it('postinst (configure) makes the config folder private, the secrets file and the state folder', async () => {
    await maint('postinst', 'configure', '');
    expect(statSync(join(R, 'etc/edge-agent')).mode & 0o777).toBe(0o750);
    expect(statSync(join(R, 'etc/edge-agent/config.yaml')).mode & 0o777).toBe(0o640);
    expect(statSync(join(R, 'etc/edge-agent/environment')).mode & 0o777).toBe(0o640);
    expect(statSync(join(R, 'var/lib/edge-agent')).mode & 0o777).toBe(0o750);
    expect(statSync(join(R, 'var/lib')).mode & 0o777).toBe(0o755);
  });

  it('the installed agent: --version, doctor, check-config of the packaged config, a known-answer inference on the demo model', async () => {
    expect((await node(['--version'])).stdout).toBe('0.1.0\n');
    const d = await node(['doctor']);
    expect(d.status, d.stderr).toBe(0);
    expect(d.stdout).toContain(`tflite        yes (TFLite 2.9.0, ${R}/opt/edge-agent/node_modules/tfjs-tflite-node/cc_deps/linux_amd64/libtensorflowlite_c.so)`);
    expect(d.stdout).toMatch(/onnxruntime {3}yes \(onnxruntime-node 1\.30\.\d+\)/);
    // The packaged config names the model at /opt/edge-agent: point it into the staging root for the check.
    const staged = join(stage, 'config.yaml');
    writeFileSync(staged, readFileSync(join(R, 'etc/edge-agent/config.yaml'), 'utf8').replaceAll('/opt/edge-agent/', `${R}/opt/edge-agent/`));
    const c = await node(['check-config', staged]);
    expect(c.status, c.stderr).toBe(0);
    // bench opens every variant with its known-answer check (the manifest's recorded input and outputs) before timing.
    for (const backend of ['native', 'wasm']) {
      const b = await run(process.execPath, [join(R, 'opt/edge-agent/bin/edge-agent.js'), 'bench', '--runs', '3', '--json', '--state-dir', join(stage, `bench-${backend}`)], { cwd: stage, env: { EDGE_AGENT_ORT_BACKEND: backend } });
      expect(b.status, b.stderr).toBe(0);
      const rows = (JSON.parse(b.stdout) as { rows: Array<{ variant: string; ranOn: string; thread: string; medianMs: number }> }).rows;
      expect(rows.map((r) => r.variant).sort()).toEqual(['student-fp32', 'student-int8', 'teacher-fp32']);
      for (const r of rows) expect(r.medianMs).toBeGreaterThan(0);
      if (backend === 'wasm') expect(rows.every((r) => r.thread === 'main')).toBe(true);
    }
    // The same detections from both backends on a demo frame.
    const det = async (backend: string) => {
      const k = await run(process.execPath, [join(R, 'opt/edge-agent/bin/edge-agent.js'), 'detect', '--model', join(R, 'opt/edge-agent/models/conveyor-demo'), '--variant', 'student-fp32', '--image', demoFrame, '--json'], { cwd: stage, env: { EDGE_AGENT_ORT_BACKEND: backend } });
      expect(k.status, k.stderr).toBe(0);
      return (JSON.parse(k.stdout) as { detections: Detection[] }).detections;
    };
    const native = await det('native');
    expect(native.length).toBeGreaterThan(0);
    expectSameDetections(await det('wasm'), native);
  });

  it('a package for another CPU than node\'s exits 69 with one line naming the package to install', async () => {
    const marker = join(R, 'opt/edge-agent/.package-arch');
    const saved = readFileSync(marker, 'utf8');
    writeFileSync(marker, 'armhf arm\n');
    try {
      const r = await node(['doctor']);
      expect(r.status).toBe(69);
      expect(r.stderr).toBe('edge-agent: this is the armhf package but node runs as x64: install edge-agent_0.1.0_amd64.deb instead\n');
    } finally {
      writeFileSync(marker, saved);
    }
  });

  it('upgrade keeps the edited config, state and outbox; purge removes them', async () => {
    const cfg = join(R, 'etc/edge-agent/config.yaml');
    writeFileSync(cfg, `${readFileSync(cfg, 'utf8')}\n# edited on the device\n`);
    mkdirSync(join(R, 'var/lib/edge-agent/outbox'), { recursive: true });
    writeFileSync(join(R, 'var/lib/edge-agent/outbox/000001.jsonl'), '{"id":"e1"}\n');
    // Upgrade as dpkg does it: old prerm upgrade, new files unpacked (conffiles a user changed are kept), new postinst.
    await maint('prerm', 'upgrade', '0.1.0');
    const r = await run('dpkg-deb', ['-x', deb, join(stage, 'new')]);
    expect(r.status).toBe(0);
    expect((await run('cp', ['-a', `${join(stage, 'new', 'opt')}/.`, join(R, 'opt')])).status).toBe(0);
    await maint('postinst', 'configure', '0.1.0');
    expect(readFileSync(cfg, 'utf8')).toContain('# edited on the device');
    expect(readFileSync(join(R, 'var/lib/edge-agent/outbox/000001.jsonl'), 'utf8')).toBe('{"id":"e1"}\n');
    await maint('prerm', 'remove');
    await maint('postrm', 'remove');
    expect(existsSync(cfg)).toBe(true);
    expect(existsSync(join(R, 'var/lib/edge-agent/outbox/000001.jsonl'))).toBe(true);
    await maint('postrm', 'purge');
    expect(existsSync(join(R, 'etc/edge-agent'))).toBe(false);
    expect(existsSync(join(R, 'var/lib/edge-agent'))).toBe(false);
  });
});
