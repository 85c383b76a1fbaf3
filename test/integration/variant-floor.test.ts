import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { demoSceneFrames, edgeAgent } from '../helpers/cli.js';
import { decodeModel, encodeModel } from '../../drivers/onnx/index.js';

vi.setConfig({ testTimeout: 600_000 });

/**
 * The floor, end to end with the built CLI: a manifest whose fast int8 variant has had its weights zeroed (and
 * claims the real int8's mAP, as a careless manifest would) is chosen by doctor until `bench --frames` measures
 * its agreement with the fp32 reference on frames of the scene; from then on it is never chosen, and doctor says why.
 */
const repoRoot = resolve(import.meta.dirname, '..', '..');
const demo = resolve(repoRoot, 'models', 'conveyor-demo');

const cli = (args: string[]) => edgeAgent(args);

let tmp: string;
let modelDir: string;
let framesDir: string;
beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'variant-floor-'));
  modelDir = join(tmp, 'model');
  mkdirSync(modelDir);
  copyFileSync(join(demo, 'student.onnx'), join(modelDir, 'student.onnx'));
  copyFileSync(join(demo, 'ka_input.f32'), join(modelDir, 'ka_input.f32'));
  // The broken fast variant: the demo's int8 graph with every int8 weight set to 0 (same kernels, same speed).
  const m = decodeModel(readFileSync(join(demo, 'student-int8.onnx')));
  let zeroed = 0;
  for (const t of m.graph.initializer) {
    if (t.dataType === 3 && t.dims.length === 4 && t.rawData?.length) {
      t.rawData = new Uint8Array(t.rawData.length);
      zeroed++;
    }
  }
  expect(zeroed).toBeGreaterThan(3);
  const broken = encodeModel(m);
  writeFileSync(join(modelDir, 'broken-int8.onnx'), broken);
  const manifest = JSON.parse(readFileSync(join(demo, 'manifest.json'), 'utf8')) as { variants: Array<Record<string, unknown>> };
  const fp32 = manifest.variants.find((v) => v.name === 'student-fp32')!;
  const int8 = manifest.variants.find((v) => v.name === 'student-int8')!;
  manifest.variants = [
    fp32,
    {
      name: 'broken-int8', file: 'broken-int8.onnx', runtime: 'onnxruntime', accelerator: 'cpu', precision: 'int8',
      sha256: createHash('sha256').update(broken).digest('hex'), accuracy: fp32.accuracy, latencyMs: int8.latencyMs,
    },
  ];
  writeFileSync(join(modelDir, 'manifest.json'), JSON.stringify(manifest, null, 2));
  // Frames of the demo scene, as a user would save from the camera.
  framesDir = await demoSceneFrames(tmp, { seed: 4242, seconds: 3, parts: 4, fps: 4 });
}, 180_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('the agreement floor (doctor and bench --frames, built CLI)', () => {
  it('a zeroed-weights int8 is chosen on its claimed figures, then measured, refused, and the reason printed', async () => {
    const state = join(tmp, 'state');
    const before = await cli(['doctor', '--model', modelDir, '--state-dir', state, '--json']);
    expect(before.status).toBe(0);
    // Faster on paper and claiming the same mAP: without a measurement it wins, which is the danger.
    expect((JSON.parse(before.stdout) as { selected: string }).selected).toBe('broken-int8');

    const bench = await cli(['bench', '--model', modelDir, '--state-dir', state, '--runs', '20', '--frames', framesDir, '--json']);
    expect(bench.status, bench.stderr).toBe(0);
    const rows = (JSON.parse(bench.stdout) as { agreement: Array<{ variant: string; reference: string; agreement: { value: number; frames: number } }> }).agreement;
    expect(rows).toHaveLength(1);
    expect(rows[0]!.reference).toBe('student-fp32');
    expect(rows[0]!.agreement.frames).toBeGreaterThanOrEqual(8);
    expect(rows[0]!.agreement.value).toBeLessThan(0.5);

    const after = await cli(['doctor', '--model', modelDir, '--state-dir', state, '--json']);
    const report = JSON.parse(after.stdout) as { selected: string; variants: Array<{ name: string; eligible: boolean; reason: string }> };
    expect(report.selected).toBe('student-fp32');
    const broken = report.variants.find((v) => v.name === 'broken-int8')!;
    expect(broken.eligible).toBe(false);
    expect(broken.reason).toMatch(/^broken-int8 agrees [\d.]+ % with student-fp32 on \d+ frame\(s\) .*: below 95 %/);
    const text = await cli(['doctor', '--model', modelDir, '--state-dir', state]);
    expect(text.stdout).toMatch(/- broken-int8 .* agrees [\d.]+ % with student-fp32/);
  });
});
