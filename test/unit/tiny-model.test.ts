/** The probe's tiny ONNX model, kept as bytes, is exactly the model the ONNX schema encodes, and ONNX Runtime runs it. */
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { tinyAddExpected, tinyAddInput, tinyAddModel } from '../../drivers/probe/tiny-model.js';

const { onnx } = onnxProto;

describe('probe model', () => {
  it('the stored bytes are y = x + x on float32[1,4], opset 13, as built from the ONNX schema', () => {
    const float1x4 = { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: 4 }] } } };
    const built = onnx.ModelProto.encode(
      onnx.ModelProto.create({
        irVersion: 8,
        producerName: 'edge-agent-probe',
        opsetImport: [{ domain: '', version: 13 }],
        graph: {
          name: 'edge_agent_probe',
          node: [{ opType: 'Add', input: ['x', 'x'], output: ['y'], name: 'double' }],
          input: [{ name: 'x', type: float1x4 }],
          output: [{ name: 'y', type: float1x4 }],
        },
      }),
    ).finish();
    expect(Buffer.from(tinyAddModel()).equals(Buffer.from(built))).toBe(true);
  });

  it('ONNX Runtime computes the known answer with it', async () => {
    const ort = (await import('onnxruntime-node')).default;
    const s = await ort.InferenceSession.create(tinyAddModel());
    const y = await s.run({ x: new ort.Tensor('float32', Float32Array.from(tinyAddInput), [1, 4]) });
    expect(Array.from(y.y!.data as Float32Array)).toEqual([...tinyAddExpected]);
    await s.release();
  });
});
