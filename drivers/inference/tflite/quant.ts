import type { QuantParams, TensorDType } from '../../../agent/types.js';

/**
 * Affine quantisation as TFLite defines it: real = scale * (q - zeroPoint).
 * Inputs given as float32 to a uint8/int8 tensor are quantised (rounded, saturated); outputs are dequantised.
 */
export function quantise(src: Float32Array, q: QuantParams, dtype: 'uint8' | 'int8', dst: Uint8Array | Int8Array): void {
  const lo = dtype === 'uint8' ? 0 : -128;
  const hi = dtype === 'uint8' ? 255 : 127;
  const inv = q.scale > 0 ? 1 / q.scale : 0;
  const zp = q.zeroPoint;
  for (let i = 0; i < src.length; i++) {
    const v = Math.round(src[i]! * inv) + zp;
    dst[i] = v < lo ? lo : v > hi ? hi : v;
  }
}

export function dequantise(src: Uint8Array | Int8Array, q: QuantParams, dst: Float32Array): void {
  const s = q.scale;
  const zp = q.zeroPoint;
  for (let i = 0; i < src.length; i++) dst[i] = s * (src[i]! - zp);
}

/** Bytes per element of the dtypes this backend exchanges. */
export function bytesPer(dtype: TensorDType): number {
  return dtype === 'float32' || dtype === 'int32' ? 4 : dtype === 'int64' ? 8 : dtype === 'float16' ? 2 : 1;
}
