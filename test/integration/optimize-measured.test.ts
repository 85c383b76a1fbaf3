import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { demoSceneFrames, edgeAgent } from '../helpers/cli.js';
import { sh } from '../helpers/sh.js';

vi.setConfig({ testTimeout: 900_000 });

/**
 * What `optimize` measures reaches selection and the report: the agreement goes into the bench cache (doctor shows
 * it as measured here, no `bench --frames` in between), and the kernels ONNX Runtime really ran for the int8
 * variant (profiled) are in the table, the --json report and the refusal line. Runs the built CLI (npm run build).
 */
const repoRoot = resolve(import.meta.dirname, '..', '..');
const demo = resolve(repoRoot, 'models', 'conveyor-demo');
const torchPython = '/usr/bin/python3';
const hasTorch = existsSync(torchPython) && (await sh(torchPython, ['-c', 'import torch, onnx'])).status === 0;

// STATE_DIRECTORY in a temp folder: nothing lands in the checkout's ./state.
const cli = (args: string[]) => edgeAgent(args, { STATE_DIRECTORY: join(tmp, 'default-state') });

let tmp: string;
let sceneFrames: string;
beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'optimize-measured-'));
  sceneFrames = await demoSceneFrames(tmp, { seed: 1818, seconds: 4, parts: 5, fps: 5 });
}, 180_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The demo model folder with only its fp32 student (the int8 is what optimize makes). */
function demoCopy(name: string): string {
  const dir = join(tmp, name);
  mkdirSync(dir);
  const m = JSON.parse(readFileSync(join(demo, 'manifest.json'), 'utf8')) as { variants: Array<{ name: string; file: string }> };
  m.variants = m.variants.filter((v) => v.name === 'student-fp32');
  for (const f of [...m.variants.map((v) => v.file), 'ka_input.f32']) copyFileSync(join(demo, f), join(dir, f));
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m, null, 2));
  return dir;
}

interface DoctorVariant {
  name: string;
  accuracySource: string | null;
  agreement: number | null;
}

describe('optimize on the demo student: agreement cached for selection, kernels profiled', () => {
  it('doctor uses the agreement optimize measured, as measured here, with no bench run in between', async () => {
    const dir = demoCopy('demo');
    const state = join(tmp, 'state');
    const r = await cli(['optimize', '--model', dir, '--calibration', sceneFrames, '--method', 'minmax', '--asymmetric-only', '--state-dir', state, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as {
      variants: Array<{ name: string; sha256: string; agreement: { value: number } }>;
      benchCache: string;
      kernels: { planned: number; ranQuantised: number; ranFloatWithQdq: number; mostlyFloat: boolean; providers: string[]; rows: Array<{ op: string; planned: number; quantised: number; quantisedKernels: string[] }>; summary: string };
    };
    // The kernels: every Conv the variant quantises ran as QLinearConv on the CPU provider.
    expect(report.kernels.planned).toBeGreaterThan(4);
    expect(report.kernels.ranQuantised).toBe(report.kernels.planned);
    expect(report.kernels.mostlyFloat).toBe(false);
    expect(report.kernels.providers).toEqual(['CPUExecutionProvider']);
    expect(report.kernels.rows.find((x) => x.op === 'Conv')).toMatchObject({ planned: report.kernels.planned, quantised: report.kernels.planned, quantisedKernels: ['QLinearConv'] });

    // The cache: keyed by this hardware's fingerprint and the int8 file's sha256, against the fp32 file's sha256.
    expect(report.benchCache).toBe(join(state, 'bench-cache.json'));
    const cache = JSON.parse(readFileSync(report.benchCache, 'utf8')) as { agreements: Record<string, Record<string, { variant: string; referenceSha256: string; value: number; frames: number }>> };
    const [fingerprint] = Object.keys(cache.agreements);
    const int8 = report.variants[0]!;
    const fp32Sha = (JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { variants: Array<{ name: string; sha256: string }> }).variants.find((v) => v.name === 'student-fp32')!.sha256;
    expect(cache.agreements[fingerprint!]![int8.sha256]).toMatchObject({ variant: 'student-int8', referenceSha256: fp32Sha, value: int8.agreement.value, frames: 5 });

    // doctor with that state dir: the agreement is the one measured here; with an empty one, the manifest's copy.
    const doctor = async (stateDir: string): Promise<{ fingerprint: string; variants: DoctorVariant[] }> => {
      const d = await cli(['doctor', '--model', dir, '--state-dir', stateDir, '--json']);
      expect(d.status, d.stderr).toBe(0);
      return JSON.parse(d.stdout) as { fingerprint: string; variants: DoctorVariant[] };
    };
    const measured = await doctor(state);
    expect(measured.fingerprint).toBe(fingerprint);
    const v = measured.variants.find((x) => x.name === 'student-int8')!;
    expect(v.agreement).toBe(int8.agreement.value);
    expect(v.accuracySource).toMatch(/^student-fp32 mAP50 [\d.]+ x agreement [\d.]+ \(measured here \d{4}-\d\d-\d\d\)$/);
    const fromManifest = (await doctor(join(tmp, 'empty-state'))).variants.find((x) => x.name === 'student-int8')!;
    expect(fromManifest.accuracySource).toMatch(/\(manifest\)$/);
    const text = await cli(['doctor', '--model', dir, '--state-dir', state]);
    expect(text.stdout).toMatch(/student-int8 .*agreement [\d.]+ \(measured here/);
  });

  it('a speed refusal names the kernels that ran, writes nothing and caches nothing', async () => {
    const dir = demoCopy('too-slow');
    const before = Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f)).toString('base64')]));
    const state = join(tmp, 'state-refused');
    const r = await cli(['optimize', '--model', dir, '--calibration', sceneFrames, '--method', 'minmax', '--asymmetric-only', '--min-speedup', '50', '--state-dir', state]);
    expect(r.status).toBe(65);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/the int8 variant of conveyor-demo is [\d.]+x the speed of student-fp32 .* under the 50x required \(.*\); ONNX Runtime ran (\d+) of \1 quantised layers as int8 kernels \(Conv \d+ QLinearConv[^)]*\); \d+ QuantizeLinear and \d+ DequantizeLinear per inference; nothing written/);
    expect(Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f)).toString('base64')]))).toEqual(before);
    expect(existsSync(join(state, 'bench-cache.json'))).toBe(false);
  });
});

describe.skipIf(!hasTorch)('the SiLU/depthwise detector (scripts/optimize/silu_detector.py): kernels of its int8 variant', () => {
  it('the table says which SiLU parts ran in int8 (QLinearSigmoid, QLinearMul) besides the convolutions', async () => {
    const dir = join(tmp, 'silu');
    const exp = await sh(torchPython, [resolve(repoRoot, 'scripts', 'optimize', 'silu_detector.py'), dir]);
    expect(exp.status, exp.stderr).toBe(0);
    // Random weights agree with nothing, so the floor is lowered to reach the kernel check; --out keeps the folder as exported.
    const r = await cli(['optimize', '--model', dir, '--calibration', sceneFrames, '--method', 'minmax', '--asymmetric-only', '--min-agreement', '0', '--min-speedup', '0', '--out', join(tmp, 'silu-out'), '--state-dir', join(tmp, 'silu-state')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/kernels ONNX Runtime ran for the int8 variant \(profiled, CPUExecutionProvider\):/);
    expect(r.stdout).toMatch(/\n {2}Conv +(\d+) +\1 +\d+ +QLinearConv\n/);
    expect(r.stdout).toMatch(/\n {2}Sigmoid +- +\d+ +\d+ +QLinearSigmoid\n/);
    expect(r.stdout).toMatch(/ONNX Runtime ran (\d+) of \1 quantised layers as int8 kernels \(Conv \d+ QLinearConv; also in int8: .*Sigmoid \d+.*\)/);
  });
});
it.skipIf(hasTorch)('SiLU kernel test skipped: /usr/bin/python3 lacks torch and onnx (apt-get install python3-torch python3-onnx)', () => {});
