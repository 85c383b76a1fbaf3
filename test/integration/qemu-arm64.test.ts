/**
 * The arm64 package on its own CPU architecture, under qemu user-mode emulation: installed from the .deb into a staging
 * root, doctor runs, the demo model and a third-party model (../shared) give the same detections as on x86_64, and the
 * demo clip (its first 10 frames) yields the same events. ONNX models run on native onnxruntime-node (linux/arm64).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { hasShared, repoRoot, sharedModels } from '../helpers/cli.js';
import { LANES, sh, expectSameDetections, type Detection, expectSameEvents, installDeb, laneCli, laneUnavailable, reference, runEvents, type Reference } from './qemu-lane.js';

const lane = LANES.arm64;
const unavailable = laneUnavailable(lane);
if (unavailable) console.warn(`qemu arm64 lane skipped: ${unavailable}`);

describe.skipIf(unavailable !== undefined)(`qemu arm64 lane${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'edge-agent-qemu-arm64-'));
  const root = join(dir, 'root');
  let ref: Reference;
  let built: string;
  let cli: ReturnType<typeof laneCli>;

  beforeAll(async () => {
    ref = await reference(dir);
    built = await installDeb(lane, join(dir, 'out'), root);
    // The nanodet fixture's manifest names its file in ../shared: that folder is allowed explicitly.
    cli = laneCli(lane, root, dir, { EDGE_AGENT_MODEL_ROOTS: sharedModels });
  }, 600_000);

  it('the package prints its installed size; doctor runs under qemu and names the backend', async () => {
    const size = /^arm64 +\S+ +installed (\d+\.\d) MB/m.exec(built);
    expect(size, built).not.toBeNull();
    console.info(`arm64 package: installed ${size![1]} MB`);
    if (lane.deb === 'arm64') expect(Number(size![1])).toBeLessThan(150);
    const d = await cli(['doctor']);
    expect(d.status, d.stderr).toBe(0);
    expect(d.stdout).toMatch(/^edge-agent 0\.1\.0 \(node 20\./);
    expect(d.stdout).toContain(`(${lane.nodeArch === 'arm' ? 'armv7l' : 'aarch64'})`);
    expect(d.stdout).toContain('onnxruntime   yes (onnxruntime-node 1.30.0)');
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
    const events = await runEvents(cli, ref.config(join(root, 'opt/edge-agent/models/conveyor-demo/manifest.json')), join(dir, 'arm64'));
    expectSameEvents(events, ref.events);
  }, 400_000);
});

async function laneCliX86(args: string[]): Promise<string> {
  const r = await sh(process.execPath, [join(repoRoot, 'bin', 'edge-agent.js'), ...args], { env: { EDGE_AGENT_ORT_BACKEND: 'native', EDGE_AGENT_MODEL_ROOTS: sharedModels } });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}
