import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/**
 * A tiny ONNX model built in memory (y = x + x, x: float32[1,4], opset 13), used to find out whether an
 * ONNX Runtime execution provider really creates a session here. Built from the ONNX protobuf schema
 * (onnx/onnx.proto: ModelProto, GraphProto, NodeProto; TensorProto.DataType FLOAT = 1).
 */
export function tinyAddModel(): Uint8Array {
  const float1x4 = { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: 4 }] } } };
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'edge-agent-probe',
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'edge_agent_probe',
      node: [{ opType: 'Add', input: ['x', 'x'], output: ['y'], name: 'double' }],
      input: [{ name: 'x', type: float1x4 }],
      output: [{ name: 'y', type: float1x4 }],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Input and the output it must give: a known answer, so "usable" means "computes correctly". */
export const tinyAddInput = [1, 2, 3, 4] as const;
export const tinyAddExpected = [2, 4, 6, 8] as const;
