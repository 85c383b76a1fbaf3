import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { edgeAgent } from '../helpers/cli.js';

vi.setConfig({ testTimeout: 600_000 });
import { loadManifest, sha256File } from '../../agent/model/manifest.js';
import { int8ChoiceFor } from '../../scripts/optimize/cpu-int8.js';
import { probe } from '../../drivers/probe/probe.js';
import { DataType, encodeModel, makeFloatTensor, makeNode, onnx, type TensorProto } from '../../drivers/onnx/index.js';

/** Runs the built CLI (npm run build first), as a user would. */
const repoRoot = resolve(import.meta.dirname, '..', '..');
const sharedDir = resolve(repoRoot, '..', 'shared', 'models');
const testImages = resolve(sharedDir, 'test-images');
const ultrafaceManifest = resolve(repoRoot, 'test', 'fixtures', 'models', 'ultraface', 'manifest.json');

/** Async (not spawnSync) so that the vitest worker stays responsive during long runs. */
// The UltraFace fixture manifest names files in ../shared/models: that folder is allowed explicitly as a model root.
// STATE_DIRECTORY in a temp folder: nothing lands in the checkout's ./state.
const cli = (args: string[]) => edgeAgent(args, { EDGE_AGENT_MODEL_ROOTS: sharedDir, STATE_DIRECTORY: join(tmp, 'state') });

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'optimize-cli-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A tiny float model (Conv + Relu + Conv to a [1,N,2]/[1,N,4] prior-boxes-style head) and its manifest. */
function tinyModelDir(name: string, opts: { dynamic?: boolean; extraOp?: string } = {}): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  const seq = (n: number, s: number): Float32Array => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.3) * s);
  const nodes = [
    makeNode('Conv', ['input', 'w1', 'b1'], ['c1'], 'conv1', { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [4, 4] }),
    makeNode('Relu', ['c1'], ['r1'], 'relu1'),
    makeNode('Conv', ['r1', 'w2'], ['c2'], 'conv2', { kernel_shape: [1, 1] }),
    makeNode('Transpose', ['c2'], ['t'], 'tr', { perm: [0, 2, 3, 1] }),
    makeNode('Reshape', ['t', 'shape'], [opts.extraOp ? 'pre' : 'raw'], 'rs'),
  ];
  if (opts.extraOp) nodes.push(makeNode(opts.extraOp, ['pre'], ['raw'], 'odd'));
  nodes.push(makeNode('Slice', ['raw', 's0', 's2', 'ax'], ['logits'], 'sl1'), makeNode('Softmax', ['logits'], ['scores'], 'sm', { axis: -1 }));
  nodes.push(makeNode('Slice', ['raw', 's2', 's6', 'ax'], ['b'], 'sl2'), makeNode('Sigmoid', ['b'], ['boxes'], 'sg'));
  const i64 = (n: string, v: number[]): TensorProto => onnx.TensorProto.create({ name: n, dims: [v.length], dataType: DataType.INT64, rawData: new Uint8Array(BigInt64Array.from(v.map(BigInt)).buffer) });
  const graph = onnx.GraphProto.create({
    name,
    node: nodes,
    initializer: [
      makeFloatTensor('w1', [8, 3, 3, 3], seq(216, 0.4)),
      makeFloatTensor('b1', [8], seq(8, 0.1)),
      makeFloatTensor('w2', [6, 8, 1, 1], seq(48, 0.5)),
      i64('shape', [1, -1, 6]),
      i64('s0', [0]),
      i64('s2', [2]),
      i64('s6', [6]),
      i64('ax', [2]),
    ],
    input: [{ name: 'input', type: { tensorType: { elemType: 1, shape: { dim: [opts.dynamic ? { dimParam: 'N' } : { dimValue: 1 }, { dimValue: 3 }, { dimValue: 32 }, { dimValue: 32 }] } } } }],
    output: ['scores', 'boxes'].map((n) => ({ name: n, type: { tensorType: { elemType: 1 } } })),
  });
  const bytes = encodeModel(onnx.ModelProto.create({ irVersion: 7, opsetImport: [{ domain: '', version: 13 }], graph }));
  writeFileSync(join(dir, 'model.onnx'), bytes);
  const sha = spawnSync('sha256sum', [join(dir, 'model.onnx')], { encoding: 'utf8' }).stdout.split(' ')[0];
  const manifest = {
    schema: 1,
    name,
    labels: ['thing'],
    input: { name: 'input', shape: [1, 3, 32, 32], layout: 'NCHW', normalise: { mean: [127, 127, 127], std: [128, 128, 128] } },
    decoder: { type: 'prior-boxes', params: { backgroundIndex: 0 }, scoreThreshold: 0.5 },
    variants: [{ name: 'tiny-fp32', file: 'model.onnx', runtime: 'onnxruntime', accelerator: 'cpu', precision: 'fp32', sha256: sha }],
  };
  writeFileSync(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return dir;
}

/**
 * The tiny untrained model finds nothing in test-source pictures and is too small for int8 to pay off, so the
 * plumbing tests below switch the agreement floor and the speed requirement off (both have their own tests:
 * variant-floor.test.ts and optimize-refusal.test.ts).
 */
const PLUMBING = ['--min-agreement', '0', '--min-speedup', '0'];

/** n PNG pictures made by ffmpeg's test source (real decoder input, no shared files needed). */
function imagesDir(name: string, n: number): string {
  const dir = join(tmp, name);
  if (existsSync(dir)) return dir;
  mkdirSync(dir, { recursive: true });
  if (n > 0) {
    const r = spawnSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=96x64:rate=5', '-frames:v', String(n), join(dir, 'img%03d.png')]);
    expect(r.status).toBe(0);
  }
  return dir;
}

function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f), 'utf8').length.toString() + ':' + readFileSync(join(dir, f)).toString('base64').slice(0, 64)]));
}

describe('optimize CLI on a tiny model (bad input and the in-place write)', () => {
  it('adds int8 and fp16 variants to the model folder and manifest, with nothing left behind', async () => {
    const dir = tinyModelDir('inplace');
    const r = await cli(['optimize', '--model', join(dir, 'manifest.json'), '--calibration', imagesDir('imgs16', 16), '--precision', 'both', '--json', ...PLUMBING]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout) as { variants: Array<{ name: string }>; layers: unknown[] };
    expect(report.variants.map((v) => v.name)).toEqual(['tiny-int8', 'tiny-fp16']);
    expect(report.layers).toHaveLength(2);
    const m = loadManifest(dir);
    expect(m.variants.map((v) => v.name)).toEqual(['tiny-fp32', 'tiny-int8', 'tiny-fp16']);
    for (const v of m.variants.slice(1)) {
      expect(await sha256File(join(dir, v.file))).toBe(v.sha256);
      expect(Object.keys(v.latencyMs)[0]).toMatch(/-cpu$/);
      expect(v.provenance).toContain('edge-agent optimize --model');
    }
    expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
    // A second run would overwrite the variants: refused, and nothing changes.
    const before = snapshot(dir);
    const again = await cli(['optimize', '--model', join(dir, 'manifest.json'), '--calibration', imagesDir('imgs16', 16)]);
    expect(again.status).toBe(64);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);
    expect(again.stderr).toMatch(/already has a variant "tiny-int8"/);
    expect(snapshot(dir)).toEqual(before);
    // With --out too: the new manifest would carry the old variant and the new one under the same name.
    const out = await cli(['optimize', '--model', join(dir, 'manifest.json'), '--calibration', imagesDir('imgs16', 16), '--out', join(tmp, 'dup-out')]);
    expect(out.status).toBe(64);
    expect(out.stderr.trim().split('\n')).toEqual([expect.stringMatching(/already has a variant "tiny-int8": .*--out copies every existing variant/)]);
    expect(existsSync(join(tmp, 'dup-out'))).toBe(false);
  });

  it('takes N frames from a video with --source, spread over the clip, and writes into --out', async () => {
    const dir = tinyModelDir('video');
    const video = join(tmp, 'clip.mp4');
    const enc = spawnSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10', '-t', '6', '-pix_fmt', 'yuv420p', video]);
    expect(enc.status).toBe(0);
    const r = await cli(['optimize', '--model', dir, '--source', video, '--frames', '20', '--method', 'entropy', '--out', join(tmp, 'video-out'), '--json', ...PLUMBING]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout) as { calibration: { frames: number; heldOut: number; method: string } };
    // Weight bits follow this CPU's int8 instructions (8 with VNNI or ARM dot product, 7 on AVX2 without VNNI).
    const cpu = probe('/').cpu;
    expect(report.calibration).toMatchObject({ frames: 15, heldOut: 5, method: 'entropy', weightBits: int8ChoiceFor(cpu.arch, cpu.features).weightBits });
    const m = loadManifest(join(tmp, 'video-out'));
    // The original file is carried into --out (a manifest's files stay inside its folder).
    expect(m.variants.map((v) => v.file)).toEqual(['model.onnx', 'tiny-int8.onnx']);
    expect(m.variants[1]!.provenance).toMatch(/entropy calibration on 15 frames/);
  });

  it('measures mAP@0.5 on a demo scene with ground truth (--eval) and records it in the manifest', async () => {
    const dir = tinyModelDir('evalmap');
    const scene = join(tmp, 'scene');
    const gen = spawnSync(process.execPath, [resolve(repoRoot, 'dist', 'scripts', 'make-demo-scene.js'), '--seed', '2099', '--out', scene, '--seconds', '2', '--parts', '3'], { encoding: 'utf8' });
    expect(gen.status).toBe(0);
    const r = await cli(['optimize', '--model', dir, '--calibration', imagesDir('imgs16', 16), '--eval', scene, '--eval-frames', '10', '--out', join(tmp, 'evalmap-out'), '--json', ...PLUMBING]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout) as { source: { accuracy: { mAP50: number; dataset: string } }; variants: Array<{ accuracy: { mAP50: number } }> };
    // The tiny model is untrained: what is checked here is the plumbing (frames, truth, mAP into the manifest).
    expect(report.source.accuracy.dataset).toBe('scene: 10 frames with ground truth');
    expect(report.variants[0]!.accuracy.mAP50).toBeGreaterThanOrEqual(0);
    const v = loadManifest(join(tmp, 'evalmap-out')).variants[1]!;
    expect(v.accuracy!.dataset).toBe('scene: 10 frames with ground truth');
    expect(v.accuracy!.mAP50).toBe(report.variants[0]!.accuracy.mAP50);
  });

  const bad: Array<[string, () => string[], RegExp, number]> = [
    ['too few calibration frames', () => ['--model', join(tinyModelDir('few'), 'manifest.json'), '--calibration', imagesDir('imgs3', 3)], /only 3 calibration frame\(s\) .* at least 8 are needed/, 64],
    ['an unreadable folder', () => ['--model', join(tinyModelDir('nofolder'), 'manifest.json'), '--calibration', join(tmp, 'does-not-exist')], /cannot read calibration folder .*does-not-exist/, 66],
    ['a dynamic input shape', () => ['--model', join(tinyModelDir('dyn', { dynamic: true }), 'manifest.json'), '--calibration', imagesDir('imgs10', 10)], /input "input" has a dynamic shape \[\?,3,32,32\]/, 65],
    ['an unsupported operator', () => ['--model', join(tinyModelDir('nz', { extraOp: 'NonZero' }), 'manifest.json'), '--calibration', imagesDir('imgs10', 10)], /operator NonZero is not supported/, 65],
    ['a bad --method', () => ['--model', join(tinyModelDir('meth'), 'manifest.json'), '--calibration', imagesDir('imgs10', 10), '--method', 'magic'], /--method magic is not minmax, percentile or entropy/, 64],
    ['both --calibration and --source', () => ['--model', join(tinyModelDir('both'), 'manifest.json'), '--calibration', imagesDir('imgs10', 10), '--source', 'x.mp4'], /give either --calibration DIR or --source URI --frames N/, 64],
  ];
  for (const [what, args, message, status] of bad) {
    it(`refuses ${what}: one line, non-zero exit, nothing written`, async () => {
      const argv = args();
      const dir = resolve(argv[1]!, '..');
      const before = snapshot(dir);
      const r = await cli(['optimize', ...argv, '--out', join(dir, 'out')]);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(r.status).toBe(status);
      expect(snapshot(dir)).toEqual(before);
      expect(existsSync(join(dir, 'out'))).toBe(false);
    });
  }
});

describe.skipIf(!existsSync(sharedDir))('optimize CLI on UltraFace RFB-320 (../shared/models)', () => {
  const out = (): string => join(tmp, 'ultraface-out');
  let report: { variants: Array<{ name: string; latencyMs: number; accuracy: { agreement: { recall: number } } }>; source: { latencyMs: number }; preparedFp32: { latencyMs: number }; layers: Array<{ layer: string }>; excluded: string[] };

  it('writes int8 and fp16 variants and a new manifest into --out, leaving the original untouched', async () => {
    const original = readFileSync(ultrafaceManifest);
    const r = await cli(['optimize', '--model', ultrafaceManifest, '--variant', 'rfb-320', '--calibration', testImages, '--augment', '--out', out(), '--precision', 'both', '--json']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    report = JSON.parse(r.stdout);
    expect(readFileSync(ultrafaceManifest)).toEqual(original);
    const m = loadManifest(out());
    expect(m.variants.map((v) => v.name)).toEqual(['rfb-320', 'slim-320', 'rfb-640', 'rfb-320-int8', 'rfb-320-fp16']);
    // The original variants resolve inside the new folder.
    expect(await sha256File(resolve(out(), m.variants[0]!.file))).toBe(m.variants[0]!.sha256);
    // The original files are carried into --out (a manifest's files stay inside its folder).
    expect(readdirSync(out()).sort()).toEqual(['manifest.json', 'rfb-320-fp16.onnx', 'rfb-320-int8.onnx', 'version-RFB-320.onnx', 'version-RFB-640.onnx', 'version-slim-320.onnx']);
    expect(report.layers).toHaveLength(52);
    for (const v of report.variants) expect(v.accuracy.agreement.recall).toBeGreaterThanOrEqual(0.9);
  });

  // ../shared/models/README.md: face.jpg 4 faces, grace_hopper.bmp 1 face, ultraface_2.jpg 4 faces.
  for (const [image, faces] of [['face.jpg', 4], ['grace_hopper.bmp', 1], ['ultraface_2.jpg', 4]] as const) {
    it(`int8 and fp16 find the same faces as fp32 in ${image}`, async () => {
      type Det = { label: string; score: number; box: number[] };
      const detect = async (variant: string): Promise<Det[]> => {
        const r = await cli(['detect', '--model', join(out(), 'manifest.json'), '--variant', variant, '--image', join(testImages, image), '--json']);
        expect(r.status).toBe(0);
        return (JSON.parse(r.stdout) as { detections: Det[] }).detections.sort((a, b) => a.box[0]! - b.box[0]!);
      };
      const ref = await detect('rfb-320');
      expect(ref).toHaveLength(faces);
      for (const [variant, pxTol, scoreTol] of [['rfb-320-int8', 4, 0.02], ['rfb-320-fp16', 1, 0.002]] as const) {
        const got = await detect(variant);
        expect(got).toHaveLength(faces);
        // Measured with minmax calibration on the 8 test images + flips/crops: int8 boxes within 2 px, scores
        // within 0.005; fp16 within 1 px and 0.001. The tolerances leave about 2x room.
        got.forEach((d, i) => {
          d.box.forEach((v, k) => expect(Math.abs(v - ref[i]!.box[k]!)).toBeLessThanOrEqual(pxTol));
          expect(Math.abs(d.score - ref[i]!.score)).toBeLessThanOrEqual(scoreTol);
        });
      }
    });
  }
});
it.skipIf(existsSync(sharedDir))('UltraFace optimize checks skipped: ../shared absent', () => {});
