import { describe, expect, it } from 'vitest';
import type { VariantSpec } from '../../agent/model/manifest-schema.js';
import { manifestSchema, referenceOf } from '../../agent/model/manifest-schema.js';
import { belowFloor, compareDetections, knownAnswerAgreement } from '../../agent/select/agreement.js';
import { emptyBenchCache, hardwareFingerprint, lookupAgreement } from '../../agent/select/bench-cache.js';
import type { Capabilities, HardwareProfile } from '../../agent/select/hardware.js';
import { selectVariant } from '../../agent/select/select.js';
import { acceleratorUsability } from '../../drivers/probe/capabilities.js';
import { probe } from '../../drivers/probe/probe.js';
import { resolve } from 'node:path';
import type { Detection } from '../../agent/types.js';

const profile: HardwareProfile = probe(resolve(__dirname, '../fixtures/sysroots', 'x86_64-pc'));
function caps(p: HardwareProfile): Capabilities {
  const ort: Capabilities['onnxruntime'] = { usable: true, version: '1.30.0', providers: { cpu: { usable: true }, cuda: { usable: false, reason: 'no' }, tensorrt: { usable: false, reason: 'no' } } };
  const tflite = { usable: true, version: '2.9.0', library: 'libtensorflowlite_c.so' };
  const etpu = { usable: false, reason: 'libedgetpu.so.1 not found' };
  return { onnxruntime: ort, tflite, edgetpuLibrary: etpu, accelerators: acceleratorUsability(p, ort, tflite, etpu), notes: [] };
}
const sha = (s: string): string => Buffer.from(s.padEnd(32, '.')).toString('hex').slice(0, 64);
function v(name: string, precision: VariantSpec['precision'], ms: number, accuracy?: VariantSpec['accuracy']): VariantSpec {
  return { name, file: `${name}.onnx`, runtime: 'onnxruntime', accelerator: 'cpu', precision, sha256: sha(name), latencyMs: { 'x86_64-cpu': ms }, ...(accuracy ? { accuracy } : {}) };
}
const det = (label: string, score: number, box: Detection['box']): Detection => ({ classId: 0, label, score, box });
const sel = { alpha: 100, beta: 1 };

describe('compareDetections', () => {
  it('matches one-to-one by label and IoU >= 0.5, and counts missed and invented detections', () => {
    const ref = [[det('a', 0.9, [0, 0, 0.5, 0.5]), det('b', 0.8, [0.5, 0.5, 1, 1])], []];
    const cand = [[det('a', 0.8, [0.01, 0, 0.5, 0.5]), det('a', 0.7, [0.5, 0.5, 1, 1])], [det('b', 0.6, [0, 0, 1, 1])]];
    const a = compareDetections(ref, cand);
    expect(a).toMatchObject({ reference: 2, candidate: 3, matched: 1, recall: 0.5 });
    expect(a.precision).toBeCloseTo(1 / 3);
    expect(a.value).toBeCloseTo(1 / 3);
    expect(a.meanScoreShift).toBeCloseTo(-0.1);
    expect(compareDetections([[]], [[]]).value).toBe(1);
  });
  it('the known-answer comparison fails with a reason when the variant answers differently', () => {
    const ref = [det('a', 0.9, [0, 0, 0.5, 0.5])];
    expect(knownAnswerAgreement('x-int8', 'x-fp32', ref, [det('a', 0.85, [0, 0, 0.5, 0.49])]).ok).toBe(true);
    const bad = knownAnswerAgreement('x-int8', 'x-fp32', ref, [det('a', 0.85, [0.6, 0.6, 1, 1])]);
    expect(bad.ok).toBe(false);
    expect(bad.reason).toBe('x-int8 found 1 detection(s) on the known-answer input, x-fp32 1; 0 match: agreement 0 % below 95 %');
  });
});

describe('selection with measured agreement', () => {
  const fp32 = v('m-fp32', 'fp32', 20, { mAP50: 0.8 });
  it('a variant under the floor is never selected, and says so', () => {
    const int8 = v('m-int8', 'int8', 8, { agreement: { reference: 'm-fp32', value: 0.41, recall: 0.5, precision: 0.41, frames: 15, dataset: 'held-out frames' } });
    const r = selectVariant({ profile, capabilities: caps(profile), variants: [fp32, int8], selection: sel });
    expect(r.selected).toBe('m-fp32');
    const verdict = r.variants.find((x) => x.name === 'm-int8')!;
    expect(verdict.eligible).toBe(false);
    expect(verdict.reason).toBe('m-int8 agrees 41 % with m-fp32 on 15 frame(s) (held-out frames): below 95 % (recall 50 %, precision 41 %)');
    // A lower floor admits it, with the accuracy derived from the reference's mAP x agreement.
    const low = selectVariant({ profile, capabilities: caps(profile), variants: [fp32, int8], selection: { ...sel, alpha: 1000, minAgreement: 0.4 } });
    const lv = low.variants.find((x) => x.name === 'm-int8')!;
    expect(lv.accuracy).toBeCloseTo(0.8 * 0.41);
    expect(lv.accuracySource).toBe('m-fp32 mAP50 0.8 x agreement 0.410 (manifest)');
  });
  it('agreement measured here (bench cache, keyed by fingerprint and both sha256) overrides the manifest; a replaced reference voids it', () => {
    const int8 = v('m-int8', 'int8', 8, { agreement: { reference: 'm-fp32', value: 0.99, recall: 0.99, precision: 0.99, frames: 40 } });
    const fingerprint = hardwareFingerprint(profile);
    const cache = emptyBenchCache();
    cache.agreements = { [fingerprint]: { [int8.sha256]: { variant: 'm-int8', reference: 'm-fp32', referenceSha256: fp32.sha256, value: 0.6, recall: 0.6, precision: 0.9, frames: 12, measuredAt: '2026-12-06T00:00:00Z' } } };
    const r = selectVariant({ profile, capabilities: caps(profile), variants: [fp32, int8], selection: sel, benchCache: cache });
    expect(r.selected).toBe('m-fp32');
    expect(r.variants[1]!.reason).toMatch(/^m-int8 agrees 60 % with m-fp32 on 12 frame\(s\): below 95 %/);
    expect(lookupAgreement(cache, fingerprint, int8.sha256, sha('other'))).toBeUndefined();
    const replaced = { ...fp32, sha256: sha('other') };
    const r2 = selectVariant({ profile, capabilities: caps(profile), variants: [replaced, int8], selection: sel, benchCache: cache });
    expect(r2.selected).toBe('m-int8');
    expect(r2.variants[1]!.reason).toMatch(/accuracy: m-fp32 mAP50 0.8 x agreement 0.990 \(manifest\)/);
  });
  it('a variant slower than its reference is never selected', () => {
    const int8 = v('m-int8', 'int8', 25, { mAP50: 0.8 });
    const r = selectVariant({ profile, capabilities: caps(profile), variants: [fp32, int8], selection: { alpha: 100, beta: 0 } });
    expect(r.selected).toBe('m-fp32');
    expect(r.variants[1]!.eligible).toBe(false);
    expect(r.variants[1]!.reason).toMatch(/^m-int8 is not faster than its reference m-fp32 here: 25.0 ms/);
  });
  it('a derived variant of unknown accuracy only follows the variants of known accuracy, even when faster', () => {
    const bare = v('n-fp32', 'fp32', 20);
    const int8 = v('n-int8', 'int8', 5);
    const r = selectVariant({ profile, capabilities: caps(profile), variants: [bare, int8], selection: sel });
    expect(r.selected).toBe('n-fp32');
    expect(r.fallbacks).toEqual(['n-int8']);
    expect(r.variants[1]!.reason).toMatch(/^accuracy unknown: no mAP50 in the manifest and no agreement with n-fp32 measured/);
  });
  it('references: explicit, else the first fp32 variant of the same runtime; a bad one is a manifest error', () => {
    const t = { ...v('t-fp32', 'fp32', 9), runtime: 'tflite' as const };
    const q = { ...v('t-int8', 'int8', 3), runtime: 'tflite' as const };
    expect(referenceOf([fp32, t, q], q)?.name).toBe('t-fp32');
    expect(referenceOf([fp32, t, { ...q, reference: 'm-fp32' }], { ...q, reference: 'm-fp32' })?.name).toBe('m-fp32');
    expect(referenceOf([fp32], fp32)).toBeUndefined();
    const bad = manifestSchema.safeParse({ schema: 1, name: 'x', labels: ['a'], input: { name: 'i', shape: [1, 3, 8, 8], layout: 'NCHW' }, decoder: { type: 'yolov8' }, variants: [{ ...q, reference: 'nope' }] });
    expect(bad.success).toBe(false);
    expect(JSON.stringify(bad.error?.issues)).toContain('reference \\"nope\\" is not another variant');
  });
  it('belowFloor is silent at or over the floor', () => {
    expect(belowFloor('a', { reference: 'b', value: 0.95, recall: 1, precision: 0.95, frames: 3 }, 0.95)).toBeUndefined();
  });
});
