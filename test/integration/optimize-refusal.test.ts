import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { demoSceneFrames, edgeAgent } from '../helpers/cli.js';
import { sh } from '../helpers/sh.js';

vi.setConfig({ testTimeout: 900_000 });

/**
 * optimize writes only what is better: bad input and a model it cannot improve each end in one line, a non-zero
 * exit, and the model folder byte for byte as it was. Runs the built CLI (npm run build first).
 */
const repoRoot = resolve(import.meta.dirname, '..', '..');
const demo = resolve(repoRoot, 'models', 'conveyor-demo');
const torchPython = '/usr/bin/python3';
const hasTorch = existsSync(torchPython) && (await sh(torchPython, ['-c', 'import torch, onnx'])).status === 0;

// STATE_DIRECTORY in a temp folder: nothing lands in the checkout's ./state.
const cli = (args: string[]) => edgeAgent(args, { STATE_DIRECTORY: join(tmp, 'state') });

/** Every file of a folder with its full bytes. */
function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f)).toString('base64')]));
}

let tmp: string;
let sceneFrames: string;
let wrongFrames: string;
beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'optimize-refusal-'));
  sceneFrames = await demoSceneFrames(tmp, { seed: 1818, seconds: 4, parts: 5, fps: 5 });
  // Pictures of another scene: ffmpeg's colour test pattern, in which the conveyor model finds nothing.
  wrongFrames = join(tmp, 'wrong-frames');
  mkdirSync(wrongFrames);
  expect(spawnSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=5', '-frames:v', '20', join(wrongFrames, 'w%03d.png')]).status).toBe(0);
}, 180_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A copy of the demo model folder with the given variants (by name, from the demo manifest, possibly edited). */
function demoCopy(name: string, edit: (variants: Array<Record<string, unknown>>) => Array<Record<string, unknown>>): string {
  const dir = join(tmp, name);
  mkdirSync(dir);
  const m = JSON.parse(readFileSync(join(demo, 'manifest.json'), 'utf8')) as { variants: Array<Record<string, unknown>> };
  m.variants = edit(m.variants.filter((v) => v.name !== 'teacher-fp32'));
  for (const f of [...m.variants.map((v) => String(v.file)), 'ka_input.f32']) copyFileSync(join(demo, f), join(dir, f));
  writeFileSync(join(dir, 'manifest.json'), `${JSON.stringify(m, null, 2)}\n`);
  return dir;
}

async function refuses(dir: string, args: string[], message: RegExp, status: number): Promise<string> {
  const before = snapshot(dir);
  const r = await cli(['optimize', '--model', dir, ...args]);
  expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
  expect(r.stderr).toMatch(message);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.status).toBe(status);
  expect(snapshot(dir)).toEqual(before);
  return r.stderr;
}

describe('optimize refuses, one line, manifest untouched', () => {
  const noInt8 = (vs: Array<Record<string, unknown>>) => vs.filter((v) => v.name !== 'student-int8');

  it('too few calibration frames', async () => {
    const few = join(tmp, 'few');
    mkdirSync(few);
    for (const f of readdirSync(sceneFrames).slice(0, 5)) copyFileSync(join(sceneFrames, f), join(few, f));
    await refuses(demoCopy('few-model', noInt8), ['--calibration', few], /only 5 calibration frame\(s\) .* at least 8 are needed/, 64);
  });

  it('frames of the wrong scene: fp32 finds nothing there, so agreement cannot be measured', async () => {
    await refuses(demoCopy('wrong-model', noInt8), ['--calibration', wrongFrames], /student-fp32 finds only 0 detection\(s\) on the 5 held-out frames .*at least 5 are needed to measure agreement; nothing written/, 64);
  });

  it('no fp32 ONNX variant', async () => {
    await refuses(demoCopy('no-fp32', (vs) => vs.filter((v) => v.name === 'student-int8').map(({ reference: _r, ...v }) => v)), ['--calibration', sceneFrames], /model conveyor-demo has no fp32 ONNX variant to optimize/, 64);
  });

  it('an already quantised model (a QDQ file listed as fp32)', async () => {
    const dir = demoCopy('quantised', (vs) => vs.filter((v) => v.name === 'student-int8').map(({ reference: _r, ...v }) => ({ ...v, name: 'student-fp32', precision: 'fp32' })));
    renameSync(join(dir, 'student-int8.onnx'), join(dir, 'qdq.onnx'));
    const m = readFileSync(join(dir, 'manifest.json'), 'utf8').replace('"student-int8.onnx"', '"qdq.onnx"');
    writeFileSync(join(dir, 'manifest.json'), m);
    await refuses(dir, ['--calibration', sceneFrames], /qdq\.onnx is already quantised \(node .* is (QuantizeLinear|DequantizeLinear)\)/, 65);
  });

  it('the demo student on its own scene: int8 is written, faster than fp32, over the floor', async () => {
    const dir = demoCopy('ok-model', noInt8);
    const r = await cli(['optimize', '--model', dir, '--calibration', sceneFrames, '--method', 'minmax', '--asymmetric-only', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { variants: Array<{ name: string; agreement: { value: number } }>; minAgreement: number };
    expect(report.variants[0]!.agreement.value).toBeGreaterThanOrEqual(report.minAgreement);
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { variants: Array<{ name: string; reference?: string; accuracy?: { agreement?: { value: number; reference: string } }; latencyMs: Record<string, number> }> };
    const int8 = m.variants.find((v) => v.name === 'student-int8')!;
    expect(int8.reference).toBe('student-fp32');
    expect(int8.accuracy!.agreement!.reference).toBe('student-fp32');
    // Latency for every variant: the fp32 one got this device's figure in the same rounds.
    const key = Object.keys(int8.latencyMs)[0]!;
    expect(m.variants.find((v) => v.name === 'student-fp32')!.latencyMs[key]).toBeGreaterThan(0);
  });
});

describe.skipIf(!hasTorch)('a SiLU/depthwise detector exported with torch (scripts/optimize/silu_detector.py)', () => {
  it('optimize gives >= 1.3x at the floor or refuses with the reason, and then writes nothing', async () => {
    const dir = join(tmp, 'silu');
    const exp = await sh(torchPython, [resolve(repoRoot, 'scripts', 'optimize', 'silu_detector.py'), dir]);
    expect(exp.status, exp.stderr).toBe(0);
    const before = snapshot(dir);
    const r = await cli(['optimize', '--model', dir, '--calibration', sceneFrames, '--min-speedup', '1.3', '--json']);
    if (r.status === 0) {
      const report = JSON.parse(r.stdout) as { source: { latencyMs: number; cpuMs: number }; variants: Array<{ latencyMs: number; cpuMs: number; agreement: { value: number } }> };
      const v = report.variants[0]!;
      expect(v.agreement.value).toBeGreaterThanOrEqual(0.95);
      expect(Math.min(report.source.latencyMs / v.latencyMs, report.source.cpuMs / v.cpuMs)).toBeGreaterThanOrEqual(1.3);
      return;
    }
    // Refused: one line saying what was tried and the best reached, or how fast int8 was; nothing written.
    expect(r.status).toBe(65);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/no int8 variant of silu-det reaches 95 % agreement with silu-fp32 on \d+ held-out frames .*: tried minmax\/percentile\/entropy calibration x asymmetric\/symmetric activations, \d-bit per-channel weights, up to \d+ layer\(s\) left float; best [\d.]+ % \(.*\); nothing written|the int8 variant of silu-det is [\d.]+x the speed of silu-fp32 .* under the 1.3x required/);
    expect(snapshot(dir)).toEqual(before);
  });
});
it.skipIf(hasTorch)('SiLU/depthwise refusal test skipped: /usr/bin/python3 lacks torch and onnx (apt-get install python3-torch python3-onnx)', () => {});
