/**
 * The qemu lane's shared steps (used by qemu-arm64.test.ts and qemu-armhf.test.ts): build the architecture's .deb,
 * install it into a staging root, and run the packaged agent with that architecture's Node under qemu user-mode
 * emulation (Debian qemu-user-static through binfmt_misc, so the agent's own child processes are emulated too).
 * Everything it needs is installed by `scripts/setup.sh --test`; when something is missing the lane says what and skips.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify, parse } from 'yaml';
import { hasShared, repoRoot, sharedModels } from '../helpers/cli.js';
import { sh, type Ran } from '../helpers/sh.js';
import { writeScene } from '../../scripts/demo-scene/index.js';

export interface Detection {
  label: string;
  score: number;
  box: number[];
}

/** Same labels in the same order, scores within 0.002 and boxes within 0.5 px (float differences between builds). */
export function expectSameDetections(got: Detection[], want: Detection[]): void {
  expect(got.map((d) => d.label)).toEqual(want.map((d) => d.label));
  got.forEach((d, i) => {
    expect(Math.abs(d.score - want[i]!.score)).toBeLessThan(0.002);
    d.box.forEach((v, j) => expect(Math.abs(v - want[i]!.box[j]!)).toBeLessThan(0.5));
  });
}

export interface Lane {
  deb: 'arm64' | 'armhf';
  /** process.arch of the emulated node. */
  nodeArch: string;
  /** binfmt_misc entry that runs this architecture's ELF files. */
  binfmt: string;
  node: string;
  /**
   * A real board's /proc/cpuinfo (from the sysroot fixtures) bound over /proc/cpuinfo in a private mount namespace.
   * qemu 7.2 (Debian 12) passes the host's x86 /proc/cpuinfo through to arm64 programs (QEMU emulates it for arm
   * only from 8.1), and ONNX Runtime's cpuinfo library crashes (SIGSEGV) parsing x86 lines as ARM ones.
   */
  cpuinfo?: string;
}

export const LANES: Record<'arm64' | 'armhf', Lane> = {
  arm64: { deb: 'arm64', nodeArch: 'arm64', binfmt: 'qemu-aarch64', node: join(repoRoot, '.cache/qemu/arm64/bin/node'), cpuinfo: join(repoRoot, 'test/fixtures/sysroots/rpi4b-bookworm/proc/cpuinfo') },
  armhf: { deb: 'armhf', nodeArch: 'arm', binfmt: 'qemu-arm', node: join(repoRoot, '.cache/qemu/armhf/bin/node') },
};

export { sh, type Ran };

const shSync = (cmd: string, args: string[], timeout = 60_000) => spawnSync(cmd, args, { encoding: 'utf8', timeout });

/** Why this lane cannot run here (undefined when it can). */
export function laneUnavailable(l: Lane): string | undefined {
  if (!existsSync(`/usr/bin/${l.binfmt}-static`)) return `${l.binfmt}-static is not installed (scripts/setup.sh --test installs qemu-user-static)`;
  if (!existsSync(`/proc/sys/fs/binfmt_misc/${l.binfmt}`)) return `binfmt_misc has no ${l.binfmt} entry (scripts/setup.sh --test registers it as root)`;
  if (!existsSync(l.node)) return `${l.node} is missing (scripts/setup.sh --test fetches it from the npm registry)`;
  const r = shSync(l.node, ['-p', 'process.arch']);
  if (r.status !== 0 || r.stdout.trim() !== l.nodeArch) return `${l.node} does not run under qemu: ${(r.stderr || r.stdout).trim().split('\n')[0]} (libc6/libstdc++6/libatomic1:${l.deb} from Debian multiarch?)`;
  if (l.cpuinfo && (process.getuid?.() !== 0 || shSync('unshare', ['-m', 'true']).status !== 0)) return 'unshare -m (root) is needed to give ONNX Runtime an ARM /proc/cpuinfo under qemu 7.2';
  return undefined;
}

export interface Reference {
  dir: string;
  frame: string;
  clip: string;
  config: (manifest: string) => string;
  demoDetections: Detection[];
  events: LaneEvent[];
}

export interface LaneEvent {
  label: string;
  score: number;
  bbox: number[];
  trackId: number;
  frame: { seq: number };
  rule: string;
}

/**
 * The x86_64 reference, from the checkout with the native backend: the demo clip cut to its first 10 frames (a
 * defective part is judged at frame 9), a frame of it, its detections and its events.
 */
export async function reference(dir: string): Promise<Reference> {
  await writeScene(join(dir, 'scene'), { seed: 4242, parts: 3 });
  const clip = join(dir, 'short.mp4');
  expect((await sh('ffmpeg', ['-v', 'error', '-i', join(dir, 'scene', 'conveyor.mp4'), '-frames:v', '10', '-c', 'copy', '-y', clip])).status).toBe(0);
  const frame = join(dir, 'frame.png');
  expect((await sh('ffmpeg', ['-v', 'error', '-i', clip, '-vf', 'select=eq(n\\,9)', '-frames:v', '1', '-y', frame])).status).toBe(0);
  const config = (manifest: string): string => {
    const cfg = parse(readFileSync(join(repoRoot, 'config', 'conveyor-demo.yaml'), 'utf8')) as { model: Record<string, unknown>; source: Record<string, unknown> };
    cfg.model.manifest = manifest;
    cfg.model.variant = 'student-fp32';
    cfg.source.path = clip;
    // Emulation runs a model 50-500x slower than the board would (and CI runs other tests beside it): the hang
    // detectors get two minutes instead of ten seconds, so only a real hang would trip them.
    (cfg as Record<string, unknown>).pipeline = { inferenceTimeoutMs: 120_000, stallMs: 120_000 };
    const file = join(dir, `config-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, stringify(cfg));
    return file;
  };
  const manifest = join(repoRoot, 'models', 'conveyor-demo');
  const x86 = (args: string[]) => sh(process.execPath, [join(repoRoot, 'bin', 'edge-agent.js'), ...args], { cwd: dir, env: { EDGE_AGENT_ORT_BACKEND: 'native' } });
  const d = await x86(['detect', '--model', manifest, '--variant', 'student-fp32', '--image', frame, '--json']);
  expect(d.status, d.stderr).toBe(0);
  const events = await runEvents(x86, config(manifest), join(dir, 'x86'));
  return { dir, frame, clip, config, demoDetections: (JSON.parse(d.stdout) as { detections: Detection[] }).detections, events };
}

/** `run --until-eof` on the clip; the events it wrote. */
export async function runEvents(cli: (args: string[]) => Promise<Ran>, config: string, out: string): Promise<LaneEvent[]> {
  mkdirSync(out, { recursive: true });
  const r = await cli(['run', '--config', config, '--until-eof', '--events-out', join(out, 'events.jsonl'), '--simulate-outputs', join(out, 'outputs.jsonl'), '--state-dir', join(out, 'state')]);
  expect(r.status, r.stderr.slice(-2000)).toBe(0);
  expect(r.stdout).toMatch(/processed 10 frames/);
  return readFileSync(join(out, 'events.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as LaneEvent);
}

/** Same events: rule, label, track and frame exactly; score and box within float tolerance. */
export function expectSameEvents(got: LaneEvent[], want: LaneEvent[]): void {
  expect(want.length).toBeGreaterThan(0);
  expect(got.map((e) => [e.rule, e.label, e.trackId, e.frame.seq])).toEqual(want.map((e) => [e.rule, e.label, e.trackId, e.frame.seq]));
  got.forEach((e, i) => {
    expect(Math.abs(e.score - want[i]!.score)).toBeLessThan(0.002);
    e.bbox.forEach((v, j) => expect(Math.abs(v - want[i]!.bbox[j]!)).toBeLessThan(0.002));
  });
}

/** Builds the lane's .deb and unpacks it into `root` with its postinst run there (DPKG_ROOT). */
export async function installDeb(l: Lane, out: string, root: string): Promise<string> {
  const b = await sh(process.execPath, [join(repoRoot, 'dist', 'scripts', 'package', 'build.js'), '--arch', l.deb, '--out', out, '--no-tarball']);
  expect(b.status, b.stderr).toBe(0);
  const deb = join(out, `edge-agent_0.1.0_${l.deb}.deb`);
  mkdirSync(root, { recursive: true });
  expect((await sh('dpkg-deb', ['-x', deb, root])).status).toBe(0);
  const ctl = join(out, `ctl-${l.deb}`);
  expect((await sh('dpkg-deb', ['-e', deb, ctl])).status).toBe(0);
  const p = await sh('sh', [join(ctl, 'postinst'), 'configure', ''], { env: { DPKG_ROOT: root } });
  expect(p.status, p.stderr).toBe(0);
  return b.stdout;
}

/** Runs the packaged agent (`root`/opt/edge-agent) with the lane's node under qemu. */
export function laneCli(l: Lane, root: string, cwd: string, env: NodeJS.ProcessEnv = {}): (args: string[]) => Promise<Ran> {
  const bin = join(root, 'opt', 'edge-agent', 'bin', 'edge-agent.js');
  return (args) =>
    l.cpuinfo
      ? sh('unshare', ['-m', 'sh', '-c', 'mount --bind "$0" /proc/cpuinfo && exec "$@"', l.cpuinfo, l.node, bin, ...args], { cwd, env })
      : sh(l.node, [bin, ...args], { cwd, env });
}

/**
 * The checks of one architecture's lane (see qemu-arm64.test.ts and qemu-armhf.test.ts): `backendLine` is what doctor
 * must print for ONNX Runtime there.
 */
export function describeLane(arch: 'arm64' | 'armhf', backendLine: string): void {
  const lane = LANES[arch];
  const unavailable = laneUnavailable(lane);
  if (unavailable) console.warn(`qemu ${arch} lane skipped: ${unavailable}`);

  describe.skipIf(unavailable !== undefined)(`qemu ${arch} lane${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
    const dir = mkdtempSync(join(tmpdir(), `edge-agent-qemu-${arch}-`));
    const root = join(dir, 'root');
    let ref: Reference;
    let built: string;
    let cli: ReturnType<typeof laneCli>;

    beforeAll(async () => {
      ref = await reference(dir);
      built = await installDeb(lane, join(dir, 'out'), root);
      // The nanodet fixture's manifest names its file in ../shared: that folder is allowed explicitly.
      // Emulation is 10-50x slower than the board, and slower still on a loaded 2-core machine: the runtime probe may
      // take more than its 30 s default.
      cli = laneCli(lane, root, dir, { EDGE_AGENT_MODEL_ROOTS: sharedModels, EDGE_AGENT_PROBE_TIMEOUT_MS: '240000' });
    }, 600_000);
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('the package prints its installed size; doctor runs under qemu and names the backend', async () => {
      const size = new RegExp(`^${arch} +\\S+ +installed (\\d+\\.\\d) MB`, 'm').exec(built);
      expect(size, built).not.toBeNull();
      console.info(`${arch} package: installed ${size![1]} MB`);
      if (arch === 'arm64') expect(Number(size![1])).toBeLessThan(150);
      const d = await cli(['doctor']);
      expect(d.status, d.stderr).toBe(0);
      expect(d.stdout).toMatch(/^edge-agent 0\.1\.0 \(node 20\./);
      expect(d.stdout).toContain(`(${lane.nodeArch === 'arm' ? 'armv7l' : 'aarch64'})`);
      expect(d.stdout).toContain(backendLine);
      expect(d.stdout).toMatch(/^Selected: student-/m);
    }, 300_000);

    it('the demo model gives the same detections as on x86_64', async () => {
      const r = await cli(['detect', '--model', join(root, 'opt/edge-agent/models/conveyor-demo'), '--variant', 'student-fp32', '--image', ref.frame, '--json']);
      expect(r.status, r.stderr).toBe(0);
      expect(ref.demoDetections.length).toBeGreaterThan(0);
      expectSameDetections((JSON.parse(r.stdout) as { detections: Detection[] }).detections, ref.demoDetections);
    }, 300_000);

    it.skipIf(!hasShared)(`a third-party model (nanodet-m from ../shared) gives the same detections as on x86_64${hasShared ? '' : ' (skipped: ../shared/models is absent)'}`, async () => {
      const args = ['detect', '--model', join(repoRoot, 'test/fixtures/models/nanodet-m'), '--image', join(sharedModels, 'test-images', 'yolox_dog.jpg'), '--json'];
      const x86 = JSON.parse(await laneCliX86(args)) as { detections: Detection[] };
      expect(x86.detections.length).toBeGreaterThan(0);
      const r = await cli(args);
      expect(r.status, r.stderr).toBe(0);
      expectSameDetections((JSON.parse(r.stdout) as { detections: Detection[] }).detections, x86.detections);
    }, 300_000);

    it('the demo clip yields the same events as on x86_64 (the variant passes its known-answer check at load)', async () => {
      const events = await runEvents(cli, ref.config(join(root, 'opt/edge-agent/models/conveyor-demo/manifest.json')), join(dir, arch));
      expectSameEvents(events, ref.events);
    }, 400_000);
  });
}

async function laneCliX86(args: string[]): Promise<string> {
  const r = await sh(process.execPath, [join(repoRoot, 'bin', 'edge-agent.js'), ...args], { env: { EDGE_AGENT_ORT_BACKEND: 'native', EDGE_AGENT_MODEL_ROOTS: sharedModels } });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}
