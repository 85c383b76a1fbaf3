import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { manifestSchema } from '../../agent/model/manifest-schema.js';
import { guessDecoder, inspectModel } from '../../scripts/optimize/inspect-model.js';

const repo = resolve(import.meta.dirname, '..', '..');

describe('inspect: a model file described, and its manifest drafted', () => {
  it('the demo student: input, output, float, yolov8 with 2 classes; the draft validates and carries the sha256', () => {
    const r = inspectModel(resolve(repo, 'models', 'conveyor-demo', 'student.onnx'));
    expect(r.inputs).toEqual([{ name: 'images', shape: [1, 3, 240, 320], dtype: 'float32', layout: 'NCHW' }]);
    expect(r.outputs).toEqual([{ name: 'output0', shape: [1, 6, 1200], dtype: 'float32' }]);
    expect(r.quantisation).toBe('none (float)');
    expect(r.decoder).toMatchObject({ type: 'yolov8', labels: 2 });
    expect(manifestSchema.safeParse(r.manifest).success).toBe(true);
    expect(r.sha256).toBe('129d85ccee43cd2e052f38ce9a5459996bb7a3a3b466721421a9d007e0e7b917');
  });
  it('the demo int8 file is reported as quantised', () => {
    expect(inspectModel(resolve(repo, 'models', 'conveyor-demo', 'student-int8.onnx')).quantisation).toMatch(/^quantised: QuantizeLinear, DequantizeLinear/);
  });
  it('families from output shapes', () => {
    expect(guessDecoder([{ name: 'scores', shape: [1, 4420, 2] }, { name: 'boxes', shape: [1, 4420, 4] }], { h: 240, w: 320 })).toMatchObject({ type: 'prior-boxes', labels: 2 });
    // YOLOX-nano 416: 52*52 + 26*26 + 13*13 = 3549 rows of 85.
    expect(guessDecoder([{ name: 'output', shape: [1, 3549, 85] }], { h: 416, w: 416 })).toMatchObject({ type: 'yolox', labels: 80 });
    expect(guessDecoder([{ name: 'output', shape: [1, 3 * 3549, 85] }], { h: 416, w: 416 })).toMatchObject({ type: 'yolov5', labels: 80 });
    expect(guessDecoder([{ name: 'a', shape: [1, 10] }], { h: 8, w: 8 }).type).toBe('unknown');
  });
  it('a non-ONNX file is one clear error', () => {
    expect(() => inspectModel('/etc/hostname')).toThrow(/is not a model file: inspect reads ONNX files/);
  });
});
