import { AgentError } from '../../agent/errors.js';

/**
 * A small reader of TFLite model files (no runtime needed), for `edge-agent inspect`.
 *
 * The file is a FlatBuffer whose root table is `Model`, with the file identifier "TFL3" at bytes 4..8. The field
 * numbers below are those of tensorflow/lite/schema/schema.fbs (TensorFlow repository); FlatBuffers keeps a field's
 * slot forever (new fields are appended, a union takes two slots: its type then its value):
 *   Model { version:uint; operator_codes:[OperatorCode]; subgraphs:[SubGraph]; description:string; buffers:[Buffer] }
 *   OperatorCode { deprecated_builtin_code:byte; custom_code:string; version:int; builtin_code:int }
 *   SubGraph { tensors:[Tensor]; inputs:[int]; outputs:[int]; operators:[Operator]; name:string }
 *   Operator { opcode_index:uint; inputs:[int]; outputs:[int]; ... }
 *   Tensor { shape:[int]; type:TensorType(byte); buffer:uint; name:string; quantization:QuantizationParameters; ...
 *            shape_signature:[int] (slot 7) }
 *   QuantizationParameters { min:[float]; max:[float]; scale:[float]; zero_point:[long]; details (slots 4, 5);
 *                            quantized_dimension:int (slot 6) }
 * Binary layout (flatbuffers.dev, "FlatBuffers internals"): a table starts with an int32 offset back to its vtable
 * (vtable = table - value); the vtable holds uint16 [vtable bytes, table bytes, field offsets...]; a field offset
 * of 0 means "absent, default". Strings, vectors and sub-tables are stored as uint32 offsets relative to where the
 * offset itself sits; a vector is a uint32 count followed by its elements. Everything is little-endian.
 * Every read is bounds-checked: a truncated or damaged file is one MODEL_INVALID error, never a RangeError.
 */

/** TensorType values (schema.fbs). */
const TENSOR_TYPES = ['float32', 'float16', 'int32', 'uint8', 'int64', 'string', 'bool', 'int16', 'complex64', 'int8', 'float64', 'complex128', 'uint64', 'resource', 'variant', 'uint32', 'uint16', 'int4'];
/** BuiltinOperator names this reader reports (the rest by number); CUSTOM = 32 means "see custom_code". */
const BUILTIN: Record<number, string> = {
  0: 'ADD', 1: 'AVERAGE_POOL_2D', 2: 'CONCATENATION', 3: 'CONV_2D', 4: 'DEPTHWISE_CONV_2D', 6: 'DEQUANTIZE', 9: 'FULLY_CONNECTED', 14: 'LOGISTIC',
  16: 'LSTM', 17: 'MAX_POOL_2D', 18: 'MUL', 19: 'RELU', 21: 'RELU6', 22: 'RESHAPE', 23: 'RESIZE_BILINEAR', 25: 'SOFTMAX', 32: 'CUSTOM', 34: 'PAD',
  39: 'TRANSPOSE', 40: 'MEAN', 41: 'SUB', 42: 'DIV', 44: 'UNIDIRECTIONAL_SEQUENCE_LSTM', 45: 'STRIDED_SLICE', 49: 'SPLIT', 53: 'CAST', 54: 'PRELU',
  67: 'TRANSPOSE_CONV', 97: 'RESIZE_NEAREST_NEIGHBOR', 98: 'LEAKY_RELU', 114: 'QUANTIZE', 117: 'HARD_SWISH',
};
/** The one custom operator edgetpu_compiler puts in place of the graph it compiled for the Edge TPU. */
export const EDGETPU_CUSTOM_OP = 'edgetpu-custom-op';

export interface TfliteQuant {
  /** One scale and zero point per tensor, or one per slice along `axis` (per-axis quantisation). */
  scale: number[];
  zeroPoint: number[];
  axis?: number;
}

export interface TfliteTensor {
  index: number;
  name: string;
  shape: number[];
  /** Declared dynamic dimensions (shape_signature, -1 = dynamic), when the converter wrote them. */
  shapeSignature?: number[];
  dtype: string;
  quant?: TfliteQuant;
}

export interface TfliteModelFile {
  schemaVersion: number;
  description: string;
  subgraphs: number;
  inputs: TfliteTensor[];
  outputs: TfliteTensor[];
  /** Operators of the main subgraph by name (custom ops by their custom_code), with counts. */
  operators: Record<string, number>;
  customOps: string[];
  /** Output tensor indices of the first operator of each custom op (e.g. TFLite_Detection_PostProcess's four). */
  customOpOutputs: Record<string, number[]>;
  /** Constant tensors (with data in a buffer) of the main subgraph that are quantised, and how many per-axis. */
  quantisedWeights: { tensors: number; perAxis: number; dtypes: string[] };
  /** Constant float16 tensors (weights stored in half precision, dequantised when the model loads). */
  float16Weights: number;
}

class Reader {
  constructor(
    private readonly b: Buffer,
    private readonly file: string,
  ) {}

  bad(what: string): never {
    throw new AgentError('MODEL_INVALID', `${this.file} is not a valid TFLite model (${what}; truncated or corrupt?)`, { fix: 'download or copy the model again and check its sha256 against the manifest' });
  }

  private need(at: number, n: number, what: string): void {
    if (!Number.isInteger(at) || at < 0 || at + n > this.b.length) this.bad(`${what} at byte ${at} lies outside the ${this.b.length}-byte file`);
  }

  u8(at: number, what: string): number {
    this.need(at, 1, what);
    return this.b.readUInt8(at);
  }
  u16(at: number, what: string): number {
    this.need(at, 2, what);
    return this.b.readUInt16LE(at);
  }
  u32(at: number, what: string): number {
    this.need(at, 4, what);
    return this.b.readUInt32LE(at);
  }
  i32(at: number, what: string): number {
    this.need(at, 4, what);
    return this.b.readInt32LE(at);
  }

  /** Position of field `slot` of the table at `t`, or undefined when the field is absent. */
  field(t: number, slot: number, what: string): number | undefined {
    const vt = t - this.i32(t, `${what} table`);
    const vtBytes = this.u16(vt, `${what} vtable`);
    const tableBytes = this.u16(vt + 2, `${what} vtable`);
    if (vtBytes < 4 || vtBytes % 2) this.bad(`${what} has a vtable of ${vtBytes} bytes`);
    const entry = 4 + 2 * slot;
    if (entry + 2 > vtBytes) return undefined;
    const off = this.u16(vt + entry, `${what} vtable`);
    if (off === 0) return undefined;
    if (off >= tableBytes) this.bad(`${what} field ${slot} at offset ${off} is past its ${tableBytes}-byte table`);
    return t + off;
  }

  /** Follows a uoffset stored at `at`. */
  deref(at: number, what: string): number {
    return at + this.u32(at, what);
  }

  table(t: number, slot: number, what: string): number | undefined {
    const f = this.field(t, slot, what);
    return f === undefined ? undefined : this.deref(f, what);
  }

  /** Start and length of a vector field (elements of `size` bytes), or undefined when absent. */
  vector(t: number, slot: number, size: number, what: string): { at: number; n: number } | undefined {
    const f = this.field(t, slot, what);
    if (f === undefined) return undefined;
    const v = this.deref(f, what);
    const n = this.u32(v, what);
    this.need(v + 4, n * size, `${what} (${n} elements)`);
    return { at: v + 4, n };
  }

  ints(t: number, slot: number, what: string): number[] | undefined {
    const v = this.vector(t, slot, 4, what);
    return v && Array.from({ length: v.n }, (_, i) => this.b.readInt32LE(v.at + 4 * i));
  }

  floats(t: number, slot: number, what: string): number[] | undefined {
    const v = this.vector(t, slot, 4, what);
    return v && Array.from({ length: v.n }, (_, i) => this.b.readFloatLE(v.at + 4 * i));
  }

  longs(t: number, slot: number, what: string): number[] | undefined {
    const v = this.vector(t, slot, 8, what);
    return v && Array.from({ length: v.n }, (_, i) => Number(this.b.readBigInt64LE(v.at + 8 * i)));
  }

  /** The tables of a vector-of-tables field. */
  tables(t: number, slot: number, what: string): number[] {
    const v = this.vector(t, slot, 4, what);
    return v ? Array.from({ length: v.n }, (_, i) => this.deref(v.at + 4 * i, what)) : [];
  }

  string(t: number, slot: number, what: string): string | undefined {
    const f = this.field(t, slot, what);
    if (f === undefined) return undefined;
    const s = this.deref(f, what);
    const n = this.u32(s, what);
    this.need(s + 4, n, what);
    return this.b.toString('utf8', s + 4, s + 4 + n);
  }
}

/** Reads a .tflite file's main subgraph: its inputs and outputs with quantisation, operators and custom ops. */
export function readTfliteModel(bytes: Buffer, file: string): TfliteModelFile {
  if (bytes.length < 8 || bytes.toString('latin1', 4, 8) !== 'TFL3') {
    const id = bytes.length >= 8 ? JSON.stringify(bytes.toString('latin1', 4, 8).replace(/[^\x20-\x7e]/g, '?')) : 'none (shorter than 8 bytes)';
    throw new AgentError('MODEL_INVALID', `${file} is not a TFLite model: its flatbuffer identifier (bytes 4-8) is ${id}, not "TFL3"`, { fix: 'give a .tflite file (or an .onnx file); a truncated download can also cause this' });
  }
  const r = new Reader(bytes, file);
  const model = r.deref(0, 'Model');
  const schemaVersion = r.field(model, 0, 'Model') === undefined ? 0 : r.u32(r.field(model, 0, 'Model')!, 'Model.version');
  const codes = r.tables(model, 1, 'Model.operator_codes').map((c) => {
    const dep = r.field(c, 0, 'OperatorCode');
    const wide = r.field(c, 3, 'OperatorCode');
    // Schema 3a added builtin_code (slot 3, int32) beside the old byte (slot 0, capped at 127); the code is the
    // larger of the two, as TFLite's own GetBuiltinCode() (schema_utils.cc) reads it.
    const code = Math.max(wide !== undefined ? r.i32(wide, 'OperatorCode.builtin_code') : 0, dep !== undefined ? (r.u8(dep, 'OperatorCode.deprecated_builtin_code') << 24) >> 24 : 0);
    return code === 32 ? (r.string(c, 1, 'OperatorCode.custom_code') ?? 'CUSTOM') : (BUILTIN[code] ?? `builtin#${code}`);
  });
  const subgraphs = r.tables(model, 2, 'Model.subgraphs');
  if (!subgraphs.length) r.bad('no subgraph');
  const g = subgraphs[0]!;
  const tensorTables = r.tables(g, 0, 'SubGraph.tensors');
  const bufferTables = r.tables(model, 4, 'Model.buffers');
  const tensorAt = (i: number): TfliteTensor => {
    const t = tensorTables[i];
    if (t === undefined) r.bad(`subgraph 0 names tensor ${i}, but has ${tensorTables.length}`);
    return readTensor(r, t, i);
  };
  const inputs = (r.ints(g, 1, 'SubGraph.inputs') ?? []).map(tensorAt);
  const outputs = (r.ints(g, 2, 'SubGraph.outputs') ?? []).map(tensorAt);
  const operators: Record<string, number> = {};
  const builtins = new Set(Object.values(BUILTIN));
  const customOps = [...new Set(codes.filter((c) => !builtins.has(c) && !c.startsWith('builtin#')))];
  const customOpOutputs: Record<string, number[]> = {};
  for (const op of r.tables(g, 3, 'SubGraph.operators')) {
    const f = r.field(op, 0, 'Operator');
    const idx = f === undefined ? 0 : r.u32(f, 'Operator.opcode_index');
    const name = codes[idx] ?? r.bad(`an operator uses opcode ${idx}, but the model has ${codes.length}`);
    operators[name] = (operators[name] ?? 0) + 1;
    if (customOps.includes(name) && !customOpOutputs[name]) customOpOutputs[name] = r.ints(op, 2, 'Operator.outputs') ?? [];
  }
  const weights = { tensors: 0, perAxis: 0, float16: 0, dtypes: new Set<string>() };
  tensorTables.forEach((t, i) => {
    const bf = r.field(t, 2, 'Tensor');
    const buffer = bf === undefined ? 0 : r.u32(bf, 'Tensor.buffer');
    if (buffer === 0 || bufferTables[buffer] === undefined) return;
    const data = r.vector(bufferTables[buffer]!, 0, 1, 'Buffer.data');
    // Large models keep constant data outside the flatbuffer (Buffer.offset, slot 1); either way it is a constant.
    if (!data?.n && r.field(bufferTables[buffer]!, 1, 'Buffer') === undefined) return;
    const tensor = readTensor(r, t, i);
    if (tensor.dtype === 'float16') weights.float16++;
    if (!tensor.quant) return;
    weights.tensors++;
    weights.dtypes.add(tensor.dtype);
    if (tensor.quant.axis !== undefined) weights.perAxis++;
  });
  return {
    schemaVersion,
    description: r.string(model, 3, 'Model.description') ?? '',
    subgraphs: subgraphs.length,
    inputs,
    outputs,
    operators,
    customOps,
    customOpOutputs,
    quantisedWeights: { tensors: weights.tensors, perAxis: weights.perAxis, dtypes: [...weights.dtypes] },
    float16Weights: weights.float16,
  };
}

function readTensor(r: Reader, t: number, index: number): TfliteTensor {
  const typeField = r.field(t, 1, 'Tensor');
  const typeId = typeField === undefined ? 0 : r.u8(typeField, 'Tensor.type');
  const tensor: TfliteTensor = {
    index,
    name: r.string(t, 3, 'Tensor.name') ?? `tensor${index}`,
    shape: r.ints(t, 0, 'Tensor.shape') ?? [],
    dtype: TENSOR_TYPES[typeId] ?? `type#${typeId}`,
  };
  const sig = r.ints(t, 7, 'Tensor.shape_signature');
  if (sig?.some((d) => d < 0)) tensor.shapeSignature = sig;
  const q = r.table(t, 4, 'Tensor.quantization');
  if (q !== undefined) {
    const scale = r.floats(q, 2, 'QuantizationParameters.scale') ?? [];
    const zeroPoint = r.longs(q, 3, 'QuantizationParameters.zero_point') ?? [];
    if (scale.length && scale.some((s) => s !== 0)) {
      tensor.quant = { scale, zeroPoint: zeroPoint.length ? zeroPoint : scale.map(() => 0) };
      if (scale.length > 1) {
        const f = r.field(q, 6, 'QuantizationParameters');
        tensor.quant.axis = f === undefined ? 0 : r.i32(f, 'QuantizationParameters.quantized_dimension');
      }
    }
  }
  return tensor;
}
