import { AgentError } from '../../agent/errors.js';
import { DataType, num, onnx, type Int64, type ITensorProto, type TensorProto } from './proto.js';

/**
 * Initializers <-> typed arrays. ONNX stores tensor data either packed little-endian in raw_data or in the typed
 * repeated fields (float_data, int32_data for int8/uint8/int16/float16/bool, int64_data, double_data); see
 * onnx.proto, message TensorProto. Everything written here uses raw_data.
 */

export type TensorArray = Float32Array | Int32Array | BigInt64Array | Uint8Array | Int8Array | Uint16Array | Float64Array;

export function dimsOf(t: ITensorProto): number[] {
  return (t.dims ?? []).map((d) => num(d as Int64));
}

export function sizeOf(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

function rawCopy(t: ITensorProto): ArrayBuffer | undefined {
  const raw = t.rawData;
  if (!raw || raw.length === 0) return undefined;
  // Copy: decoded raw_data is a view into the file buffer, usually not aligned for typed arrays.
  return new Uint8Array(raw).buffer as ArrayBuffer; // copy (Buffer.slice would be a view)
}

function notSupported(t: ITensorProto, what: string): AgentError {
  return new AgentError('MODEL_INVALID', `tensor ${t.name ?? '?'} ${what}`, {
    fix: 'the model stores data in a form this tool does not read (external data?); re-export it with weights inside the file',
  });
}

function checkInternal(t: ITensorProto): void {
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL || (t.externalData?.length ?? 0) > 0) {
    throw notSupported(t, 'keeps its data in an external file');
  }
}

/** Values of a float tensor (FLOAT, FLOAT16 or DOUBLE) as float32. */
export function toFloat32(t: ITensorProto): Float32Array {
  checkInternal(t);
  const raw = rawCopy(t);
  switch (t.dataType) {
    case DataType.FLOAT:
      return raw ? new Float32Array(raw) : Float32Array.from(t.floatData ?? []);
    case DataType.FLOAT16: {
      const half = raw ? new Uint16Array(raw) : Uint16Array.from(t.int32Data ?? []);
      const out = new Float32Array(half.length);
      for (let i = 0; i < half.length; i++) out[i] = halfToFloat(half[i]!);
      return out;
    }
    case DataType.DOUBLE:
      return Float32Array.from(raw ? new Float64Array(raw) : (t.doubleData ?? []));
    default:
      throw notSupported(t, `has data type ${DataType[t.dataType ?? 0]}, not a float type`);
  }
}

/** Values of an integer tensor (INT64, INT32, INT8, UINT8, INT16, UINT16, BOOL) as JS numbers. */
export function toNumbers(t: ITensorProto): number[] {
  checkInternal(t);
  const raw = rawCopy(t);
  switch (t.dataType) {
    case DataType.INT64:
      return raw ? Array.from(new BigInt64Array(raw), Number) : (t.int64Data ?? []).map((v) => num(v as Int64));
    case DataType.INT32:
      return Array.from(raw ? new Int32Array(raw) : (t.int32Data ?? []));
    case DataType.INT8:
      return Array.from(raw ? new Int8Array(raw) : (t.int32Data ?? []));
    case DataType.UINT8:
    case DataType.BOOL:
      return Array.from(raw ? new Uint8Array(raw) : (t.int32Data ?? []));
    case DataType.INT16:
      return Array.from(raw ? new Int16Array(raw) : (t.int32Data ?? []));
    case DataType.UINT16:
      return Array.from(raw ? new Uint16Array(raw) : (t.int32Data ?? []));
    case DataType.FLOAT:
    case DataType.FLOAT16:
    case DataType.DOUBLE:
      return Array.from(toFloat32(t));
    default:
      throw notSupported(t, `has data type ${DataType[t.dataType ?? 0]}`);
  }
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();
}

export function makeFloatTensor(name: string, dims: readonly number[], data: Float32Array): TensorProto {
  return onnx.TensorProto.create({ name, dims: [...dims], dataType: DataType.FLOAT, rawData: bytesOf(data) });
}

export function makeFloat16Tensor(name: string, dims: readonly number[], data: Float32Array): TensorProto {
  const half = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) half[i] = floatToHalf(data[i]!);
  return onnx.TensorProto.create({ name, dims: [...dims], dataType: DataType.FLOAT16, rawData: bytesOf(half) });
}

export function makeInt64Tensor(name: string, dims: readonly number[], values: readonly number[]): TensorProto {
  // Clamp: attributes such as Slice ends = INT64_MAX decode through doubles and would wrap around.
  const max = 2n ** 63n - 1n;
  const a = BigInt64Array.from(values.map((v) => {
    const b = BigInt(Math.trunc(v));
    return b > max ? max : b < -max - 1n ? -max - 1n : b;
  }));
  return onnx.TensorProto.create({ name, dims: [...dims], dataType: DataType.INT64, rawData: bytesOf(a) });
}

export function makeInt32Tensor(name: string, dims: readonly number[], values: Int32Array): TensorProto {
  return onnx.TensorProto.create({ name, dims: [...dims], dataType: DataType.INT32, rawData: bytesOf(values) });
}

export function makeInt8Tensor(name: string, dims: readonly number[], values: Int8Array): TensorProto {
  return onnx.TensorProto.create({ name, dims: [...dims], dataType: DataType.INT8, rawData: bytesOf(values) });
}

export function makeUint8Tensor(name: string, dims: readonly number[], values: Uint8Array): TensorProto {
  return onnx.TensorProto.create({ name, dims: [...dims], dataType: DataType.UINT8, rawData: bytesOf(values) });
}

// IEEE 754 binary16 <-> binary32, round to nearest even (the conversion numpy's astype(float16) does).
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function floatToHalf(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf / NaN
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow -> Inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow -> signed zero
    mant |= 0x800000; // subnormal half: shift the implicit bit in
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++; // may carry into the exponent, which is right
  return sign | h;
}

export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}
