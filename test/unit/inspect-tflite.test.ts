import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AgentError } from '../../agent/errors.js';
import { manifestSchema } from '../../agent/model/manifest-schema.js';
import { prepareDecoder } from '../../agent/decode/index.js';
import { TfliteBackend } from '../../drivers/inference/tflite/backend.js';
import { inspectModel } from '../../scripts/optimize/inspect-model.js';
import { readTfliteModel } from '../../scripts/optimize/tflite-file.js';

const repo = resolve(import.meta.dirname, '..', '..');
const shared = resolve(repo, '..', 'shared', 'models');
const haveShared = existsSync(shared);
const files = {
  blazeShort: join(shared, 'mediapipe-blazeface', 'face_detection_short_range.tflite'),
  blazeFull: join(shared, 'mediapipe-blazeface', 'face_detection_full_range.tflite'),
  palm: join(shared, 'mediapipe-palm-lite', 'palm_detection_lite.tflite'),
  traffic: join(shared, 'coral-traffic-lstm', 'traffic_model.tflite'),
};
/** The hand-written fixture manifest of each model (test/fixtures/models), which the agent runs in other tests. */
const fixtureOf: Record<keyof typeof files, string> = { blazeShort: 'blazeface-short', blazeFull: 'blazeface-full', palm: 'palm-lite', traffic: 'coral-traffic-lstm' };
const tmp = mkdtempSync(join(tmpdir(), 'inspect-tflite-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function errorOf(f: () => unknown): AgentError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(AgentError);
    return err as AgentError;
  }
  throw new Error('expected an error');
}

describe.skipIf(!haveShared)(`inspect reads TFLite files without the runtime${haveShared ? '' : ' (skipped: ../shared/models absent)'}`, () => {
  it.each(Object.keys(files) as Array<keyof typeof files>)('%s: tensors as the TFLite runtime reports them', async (key) => {
    const r = inspectModel(files[key]);
    const backend = new TfliteBackend();
    await backend.load({ file: files[key], accelerator: 'cpu' });
    try {
      for (const [mine, theirs] of [[r.inputs, backend.inputs()], [r.outputs, backend.outputs()]] as const) {
        expect(mine.map((t) => t.name)).toEqual(theirs.map((t) => t.name));
        expect(mine.map((t) => t.dtype)).toEqual(theirs.map((t) => t.dtype));
        mine.forEach((t, i) => {
          // TFLite_Detection_PostProcess outputs are declared shapeless in the file; the op sets them when prepared.
          if (t.shape.length) expect(t.shape).toEqual(theirs[i]!.shape);
          const q = theirs[i]!.quant;
          if (!q) return expect(t.quant).toBeUndefined();
          expect(t.quant!.axis).toBeUndefined();
          expect(t.quant!.zeroPoint).toEqual([q.zeroPoint]);
          expect(t.quant!.scale[0]).toBeCloseTo(q.scale, 7);
        });
      }
    } finally {
      await backend.close();
    }
  });

  it.each(Object.keys(files) as Array<keyof typeof files>)('%s: the drafted manifest validates and matches the hand-written one where the file decides', (key) => {
    const r = inspectModel(files[key]);
    const parsed = manifestSchema.safeParse(r.manifest);
    expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
    const draft = r.manifest as { labels: string[]; input: Record<string, unknown>; decoder: { type: string; params: Record<string, unknown>; nms: { method: string } } & Record<string, unknown>; variants: Array<Record<string, unknown>> };
    expect(() => prepareDecoder(draft.decoder as never, draft.labels)).not.toThrow();
    const fixture = JSON.parse(readFileSync(join(repo, 'test', 'fixtures', 'models', fixtureOf[key], 'manifest.json'), 'utf8'));
    expect(draft.input).toMatchObject({ name: fixture.input.name, shape: fixture.input.shape, layout: fixture.input.layout, dtype: fixture.input.dtype });
    expect(draft.decoder.type).toBe(fixture.decoder.type);
    expect(draft.decoder.nms.method).toBe(fixture.decoder.nms.method);
    for (const k of ['regressors', 'scores', 'numKeypoints', 'keypointOffset', 'boxes', 'classes', 'count', 'boxOrder', 'feedback']) expect(draft.decoder.params[k]).toEqual(fixture.decoder.params[k]);
    if (fixture.decoder.params.anchors) expect(draft.decoder.params.anchors).toMatchObject({ strides: fixture.decoder.params.anchors.strides, interpolatedScaleAspectRatio: fixture.decoder.params.anchors.interpolatedScaleAspectRatio });
    expect(draft.variants[0]).toMatchObject({ runtime: 'tflite', accelerator: 'cpu', precision: fixture.variants[0].precision, sha256: fixture.variants[0].sha256 });
    expect(r.edgeTpu).toEqual({ compiled: false, customOps: key === 'traffic' ? ['TFLite_Detection_PostProcess'] : [] });
  });

  it('the uint8 LSTM-SSD: quantisation per tensor, and the normalisation drafted from the input\'s scale and zero point', () => {
    const r = inspectModel(files.traffic);
    expect(r.inputs[0]).toEqual({ name: 'normalized_input_image_tensor', shape: [1, 256, 256, 3], dtype: 'uint8', layout: 'NHWC', quant: { scale: [0.0078125], zeroPoint: [128] } });
    expect(r.quantisation).toBe('quantised: 205 constant tensor(s) uint8/int32, per-tensor; input uint8 quantised');
    expect((r.manifest as { input: { normalise: unknown } }).input.normalise).toEqual({ mean: [128, 128, 128], std: [128, 128, 128] });
    expect(inspectModel(files.blazeShort).quantisation).toBe('none (float32 compute; 74 weight tensor(s) stored as float16, dequantised at load)');
  });

  /** edgetpu_compiler replaces the graph with one custom op "edgetpu-custom-op": the same rename as tflite-backend.test.ts. */
  it('an Edge TPU compiled model is recognised, and its draft runs on the edgetpu accelerator', () => {
    const buf = Buffer.from(readFileSync(files.traffic));
    const from = Buffer.from('TFLite_Detection_PostProcess');
    const to = Buffer.from('edgetpu-custom-op\0');
    for (let at = buf.indexOf(from); at >= 0; at = buf.indexOf(from, at + 1)) {
      if (buf.readUInt32LE(at - 4) !== from.length) continue;
      buf.writeUInt32LE(to.length - 1, at - 4);
      to.copy(buf, at);
    }
    const file = join(tmp, 'traffic_model_edgetpu.tflite');
    writeFileSync(file, buf);
    const r = inspectModel(file);
    expect(r.edgeTpu).toEqual({ compiled: true, customOps: ['edgetpu-custom-op'] });
    expect((r.manifest as { variants: Array<{ accelerator: string }> }).variants[0]!.accelerator).toBe('edgetpu');
  });

  it('every truncation of a real model is one MODEL_INVALID error, never a crash', () => {
    const whole = readFileSync(files.blazeShort);
    for (const n of [12, 64, 200, 1000, 5000, 20000, whole.length >> 1, whole.length - 5000]) {
      const e = errorOf(() => readTfliteModel(whole.subarray(0, n), 'x.tflite'));
      expect(e.code).toBe('MODEL_INVALID');
      expect(e.message).toMatch(/^x\.tflite is not a valid TFLite model \(.+; truncated or corrupt\?\)$/);
    }
  });
});

describe('inspect: bad input is one line and exit 65 (built CLI)', () => {
  const cli = (file: string) => spawnSync(process.execPath, [resolve(repo, 'bin', 'edge-agent.js'), 'inspect', file], { encoding: 'utf8' });
  it('not a model, a wrong flatbuffer identifier, a truncated flatbuffer', () => {
    const text = join(tmp, 'notes.tflite');
    writeFileSync(text, 'this is not a model\n');
    const wrongId = join(tmp, 'schema.tflite');
    writeFileSync(wrongId, Buffer.concat([Buffer.from([0x1c, 0, 0, 0]), Buffer.from('BFBS'), Buffer.alloc(64)]));
    const truncated = join(tmp, 'cut.tflite');
    writeFileSync(truncated, Buffer.concat([Buffer.from([0x00, 0x10, 0, 0]), Buffer.from('TFL3'), Buffer.alloc(8)]));
    const plain = join(tmp, 'hostname');
    writeFileSync(plain, 'edge-1\n');
    const cases: Array<[string, RegExp]> = [
      [text, /notes\.tflite is not a TFLite model: its flatbuffer identifier \(bytes 4-8\) is " is ", not "TFL3"/],
      [wrongId, /schema\.tflite is not a TFLite model: its flatbuffer identifier \(bytes 4-8\) is "BFBS", not "TFL3"/],
      [truncated, /cut\.tflite is not a valid TFLite model \(Model table at byte 4096 lies outside the 16-byte file; truncated or corrupt\?\)/],
      [plain, /hostname is not a model file: inspect reads ONNX files \(\.onnx\) and TFLite files \(\.tflite\)/],
    ];
    for (const [file, msg] of cases) {
      const r = cli(file);
      expect(r.status, r.stderr).toBe(65);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(msg);
    }
  });
});
