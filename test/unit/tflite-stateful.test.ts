import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OnnxRuntimeBackend } from '../../drivers/inference/onnxruntime.js';
import { StatefulBackend } from '../../drivers/inference/tflite/stateful.js';

// A real recurrent model (test/fixtures/models/recurrent-add, made by its make_model.py): y = h_out = x + h_in.
const model = resolve(__dirname, '..', 'fixtures', 'models', 'recurrent-add', 'model.onnx');

describe('StatefulBackend on a real recurrent ONNX model', () => {
  it('starts from zero state, feeds h_out into h_in every frame, and resets', async () => {
    const b = new StatefulBackend(new OnnxRuntimeBackend(), [['h_out', 'h_in']]);
    await b.load({ file: model, accelerator: 'cpu' });
    const x = Float32Array.from([1, 2, 3, 4]);
    const ys: number[][] = [];
    for (let k = 0; k < 3; k++) ys.push([...(await b.run({ x }))['y']!.data]);
    expect(ys).toEqual([
      [1, 2, 3, 4],
      [2, 4, 6, 8],
      [3, 6, 9, 12],
    ]);
    b.reset();
    expect([...(await b.run({ x }))['y']!.data]).toEqual([1, 2, 3, 4]);
    await b.close();
  });
});
