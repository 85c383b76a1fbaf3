import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadManifest } from '../../agent/model/manifest.js';
import { agreement, meanAP, type TruthBox } from '../../scripts/optimize/evaluate.js';
import type { ModelFrame } from '../../scripts/optimize/frames.js';
import { carriedFiles, checkFree, mergedManifest, writeAtomically } from '../../scripts/optimize/write.js';
import type { Detection } from '../../agent/types.js';

const det = (label: string, score: number, box: [number, number, number, number]): Detection => ({ classId: label === 'part' ? 0 : 1, label, score, box });
const gt = (label: string, box: [number, number, number, number], difficult = false): TruthBox => ({ label, box, difficult });
const frame = (w = 100, h = 100): ModelFrame => ({ name: 'f', geometry: { srcWidth: w, srcHeight: h, width: w, height: h, padX: 0, padY: 0, contentWidth: w, contentHeight: h }, tensor: { data: new Float32Array(1), dims: [1] } });

describe('mAP@0.5 (VOC all-point)', () => {
  it('is 1 for perfect detections and ignores difficult boxes', () => {
    const truth = [[gt('part', [0, 0, 0.5, 0.5]), gt('part', [0.6, 0.6, 1, 1], true)]];
    const dets = [[det('part', 0.9, [0, 0, 0.5, 0.5]), det('part', 0.8, [0.6, 0.6, 1, 1])]];
    expect(meanAP(dets, truth, ['part', 'defect'])).toEqual({ mAP50: 1, perClass: { part: 1 } });
  });

  it('hand-computed: 2 ground truths, detections TP(0.9), FP(0.8), TP(0.7) -> AP = 0.5*1 + 0.5*(2/3)', () => {
    const truth = [[gt('defect', [0, 0, 0.2, 0.2]), gt('defect', [0.5, 0.5, 0.7, 0.7])]];
    const dets = [[det('defect', 0.9, [0, 0, 0.2, 0.2]), det('defect', 0.8, [0.3, 0.3, 0.4, 0.4]), det('defect', 0.7, [0.5, 0.5, 0.7, 0.69])]];
    const r = meanAP(dets, truth, ['part', 'defect']);
    expect(r.perClass.defect).toBeCloseTo(0.5 + 0.5 * (2 / 3), 9);
  });

  it('a duplicate detection of one object is a false positive', () => {
    const truth = [[gt('part', [0, 0, 0.5, 0.5])]];
    const dets = [[det('part', 0.9, [0, 0, 0.5, 0.5]), det('part', 0.8, [0, 0, 0.5, 0.49])]];
    expect(meanAP(dets, truth, ['part']).mAP50).toBe(1); // the FP comes after full recall
    const dets2 = [[det('part', 0.9, [0, 0, 0.5, 0.49]), det('part', 0.95, [0.6, 0.6, 0.7, 0.7])]];
    expect(meanAP(dets2, truth, ['part']).mAP50).toBe(0.5);
  });
});

describe('agreement with the fp32 detections', () => {
  it('matches one-to-one by label and IoU >= 0.5 and reports the box error in source pixels', () => {
    const ref = [[det('part', 0.9, [0.1, 0.1, 0.3, 0.3]), det('defect', 0.8, [0.5, 0.5, 0.9, 0.9])]];
    const cand = [[det('part', 0.85, [0.11, 0.1, 0.3, 0.3]), det('part', 0.7, [0.5, 0.5, 0.9, 0.9]), det('defect', 0.3, [0.6, 0.0, 0.7, 0.1])]];
    const a = agreement(ref, cand, [frame(200, 100)]);
    expect(a.matched).toBe(1); // the defect box came back as "part": not a match
    expect(a.recall).toBe(0.5);
    expect(a.precision).toBeCloseTo(1 / 3, 9);
    expect(a.meanBoxErrorPx).toBeCloseTo((0.01 * 200) / 4, 6);
  });
});

describe('manifest writing', () => {
  let tmp = '';
  afterEach(() => {
    if (tmp) {
      chmodSync(tmp, 0o755);
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  function modelDir(): string {
    tmp = mkdtempSync(join(tmpdir(), 'opt-write-'));
    const dir = join(tmp, 'model');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a.onnx'), 'x');
    const m = {
      schema: 1,
      name: 'm',
      labels: ['part'],
      input: { name: 'images', shape: [1, 3, 8, 8], layout: 'NCHW' },
      decoder: { type: 'yolov8' },
      variants: [{ name: 'a-fp32', file: 'a.onnx', runtime: 'onnxruntime', accelerator: 'cpu', precision: 'fp32', sha256: '0'.repeat(64) }],
    };
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
    return dir;
  }
  const newVariant = { name: 'a-int8', file: 'a-int8.onnx', runtime: 'onnxruntime' as const, accelerator: 'cpu' as const, precision: 'int8' as const, sha256: '1'.repeat(64), latencyMs: { 'x86_64-cpu': 1 } };

  it('re-points the original variants relative to --out and keeps the document as written', () => {
    const dir = modelDir();
    const m = loadManifest(dir);
    const doc = mergedManifest(m, join(tmp, 'out'), [newVariant]) as { variants: Array<{ file: string }>; input: Record<string, unknown> };
    // With --out the original files are carried into the output folder (a manifest's files stay inside its folder).
    expect(doc.variants.map((v) => v.file)).toEqual(['a.onnx', 'a-int8.onnx']);
    expect(carriedFiles(m, join(tmp, 'out')).map((f) => [f.name, f.bytes.length])).toEqual([['a.onnx', readFileSync(join(dir, 'a.onnx')).length]]);
    expect(carriedFiles(m, dir)).toEqual([]);
    expect(doc.input).toEqual({ name: 'images', shape: [1, 3, 8, 8], layout: 'NCHW' }); // no defaults filled in
    expect((mergedManifest(m, dir, [newVariant]) as { variants: Array<{ file: string }> }).variants[0]!.file).toBe('a.onnx');
  });

  it('writes files then the manifest, leaving no temporary files', () => {
    const dir = modelDir();
    const m = loadManifest(dir);
    writeAtomically(dir, 'manifest.json', mergedManifest(m, dir, [newVariant]), [{ name: 'a-int8.onnx', bytes: new Uint8Array([1, 2, 3]) }]);
    expect(readdirSync(dir).sort()).toEqual(['a-int8.onnx', 'a.onnx', 'manifest.json']);
    expect(loadManifest(dir).variants.map((v) => v.name)).toEqual(['a-fp32', 'a-int8']);
  });

  it('on failure removes its temporary files and leaves the original manifest as it was', () => {
    const dir = modelDir();
    const before = readFileSync(join(dir, 'manifest.json'));
    const m = loadManifest(dir);
    // A folder where the rename of the manifest fails: a directory named like the target file.
    mkdirSync(join(dir, 'sub', 'manifest.json'), { recursive: true });
    expect(() => writeAtomically(join(dir, 'sub'), 'manifest.json', mergedManifest(m, join(dir, 'sub'), [newVariant]), [{ name: 'a-int8.onnx', bytes: new Uint8Array(8) }])).toThrow(/cannot write to .*sub/);
    expect(readdirSync(join(dir, 'sub'))).toEqual(['manifest.json']); // only the blocking folder: no temp or orphan files
    expect(readFileSync(join(dir, 'manifest.json'))).toEqual(before);
  });

  it('refuses to reuse a variant name or overwrite a file', () => {
    const dir = modelDir();
    const m = loadManifest(dir);
    expect(() => checkFree(m, dir, ['a-fp32'], [])).toThrow(/already has a variant "a-fp32"/);
    expect(() => checkFree(m, dir, ['a-int8'], ['a.onnx'])).toThrow(/a.onnx already exists/);
    expect(() => checkFree(m, join(tmp, 'fresh'), ['a-int8'], ['a-int8.onnx'])).not.toThrow();
    // --out copies every variant into the new manifest: an existing name would be there twice.
    expect(() => checkFree(m, join(tmp, 'fresh'), ['a-fp32'], ['a-fp32.onnx'])).toThrow(/already has a variant "a-fp32"/);
  });
});
