import { readFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';
import { AgentError, messageOf } from '../../agent/errors.js';

/**
 * The ONNX protobuf schema as generated JavaScript (onnx-proto = protobufjs static code for onnx.proto, ONNX 1.10).
 * int64 fields decode to `Long` objects (protobufjs with the `long` package); use `num()` to read them.
 */
export const onnx = onnxProto.onnx;
export type ModelProto = onnxProto.onnx.ModelProto;
export type GraphProto = onnxProto.onnx.GraphProto;
export type NodeProto = onnxProto.onnx.NodeProto;
export type TensorProto = onnxProto.onnx.TensorProto;
export type AttributeProto = onnxProto.onnx.AttributeProto;
export type ValueInfoProto = onnxProto.onnx.ValueInfoProto;
export type IModelProto = onnxProto.onnx.IModelProto;
export type ITensorProto = onnxProto.onnx.ITensorProto;
export type INodeProto = onnxProto.onnx.INodeProto;
export type IAttributeProto = onnxProto.onnx.IAttributeProto;
export type IValueInfoProto = onnxProto.onnx.IValueInfoProto;

export const DataType = onnx.TensorProto.DataType;
export const AttrType = onnx.AttributeProto.AttributeType;

/**
 * A decoded graph. protobufjs types repeated fields of a GraphProto as interfaces with optional members, but a
 * decoded (or `create`d) message always has them (prototype defaults), so we use these stricter views.
 */
export interface Graph {
  name: string;
  node: NodeProto[];
  initializer: TensorProto[];
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  valueInfo: ValueInfoProto[];
}
export type Model = Omit<ModelProto, 'graph'> & { graph: Graph };

/** A protobuf int64 as decoded (Long-like) or as a plain number. */
export type Int64 = number | { toNumber(): number } | null | undefined;

/** Reads an int64 field as a JS number (all ONNX dims and attribute ints we handle fit in 2^53). */
export function num(v: Int64): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

/** Decodes a model from bytes; a corrupt file becomes a one-line MODEL_INVALID error. */
export function decodeModel(bytes: Uint8Array, what = 'model'): Model {
  try {
    const m = onnx.ModelProto.decode(bytes);
    if (!m.graph) throw new Error('no graph');
    return m as unknown as Model;
  } catch (err) {
    throw new AgentError('MODEL_INVALID', `${what} is not a valid ONNX model (${messageOf(err)})`, {
      fix: 'give an .onnx file exported by a framework (torch.onnx.export, tf2onnx...)',
    });
  }
}

export function readModel(file: string): Model {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new AgentError('MODEL_NOT_FOUND', `cannot read ONNX model ${file} (${messageOf(err)})`, { fix: 'check the path' });
  }
  return decodeModel(bytes, file);
}

/** Serialises a model to bytes (ready for onnxruntime's InferenceSession.create or a file). */
export function encodeModel(m: Model | IModelProto): Uint8Array {
  return onnx.ModelProto.encode(m as IModelProto).finish();
}

/** The opset of the default ONNX domain ("" or "ai.onnx"). */
export function defaultOpset(m: Model | IModelProto): number {
  const imp = (m.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  return imp ? num(imp.version as Int64) : 0;
}

/** Sets the opset of the default domain (adds the import when missing). */
export function setDefaultOpset(m: Model | IModelProto, version: number): void {
  m.opsetImport = m.opsetImport ?? [];
  const imp = m.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx');
  if (imp) imp.version = version;
  else m.opsetImport.push({ domain: '', version });
}
