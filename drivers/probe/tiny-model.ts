/**
 * A tiny ONNX model (y = x + x, x: float32[1,4], opset 13, IR 8), used to find out whether an ONNX Runtime execution
 * provider really creates a session here. Kept as its encoded bytes so that the probe, which runs at every start,
 * does not load protobufjs and the ONNX schema (a few MB of heap). test/unit/tiny-model.test.ts rebuilds it from the
 * ONNX protobuf schema (onnx/onnx.proto: ModelProto, GraphProto, NodeProto; TensorProto.DataType FLOAT = 1) and
 * checks these bytes.
 */
export const TINY_ADD_MODEL_BASE64 =
  'CAgSEGVkZ2UtYWdlbnQtcHJvYmU6VAoWCgF4CgF4EgF5GgZkb3VibGUiA0FkZBIQZWRnZV9hZ2VudF9wcm9iZVoTCgF4Eg4KDAgBEggKAggBCgIIBGITCgF5Eg4KDAgBEggKAggBCgIIBEIECgAQDQ==';

export function tinyAddModel(): Uint8Array {
  return new Uint8Array(Buffer.from(TINY_ADD_MODEL_BASE64, 'base64'));
}

/** Input and the output it must give: a known answer, so "usable" means "computes correctly". */
export const tinyAddInput = [1, 2, 3, 4] as const;
export const tinyAddExpected = [2, 4, 6, 8] as const;
