/**
 * The arithmetic of linear quantisation as ONNX defines it (QuantizeLinear: q = saturate(round(x / scale) + zp),
 * round half to even; DequantizeLinear: x = (q - zp) * scale). Pure functions, no graph code.
 */

/** Round half to even, as QuantizeLinear specifies. */
export function roundEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export interface ActivationParams {
  scale: number;
  zeroPoint: number;
  /** Quantised range: [0,255] for uint8 activations. */
  qmin: number;
  qmax: number;
}

/**
 * Asymmetric uint8 parameters for a real range. The range is widened to include 0 so that zero (padding,
 * ReLU output) is exactly representable, as both ONNX Runtime and TFLite require.
 */
export function uint8Params(min: number, max: number): ActivationParams {
  const lo = Math.min(min, 0);
  const hi = Math.max(max, 0);
  let scale = (hi - lo) / 255;
  if (!(scale > 0) || !Number.isFinite(scale)) scale = 1;
  const zeroPoint = Math.min(255, Math.max(0, roundEven(-lo / scale)));
  return { scale, zeroPoint, qmin: 0, qmax: 255 };
}

/** Quantise-dequantise one value with activation parameters. */
export function fakeQuant(x: number, p: ActivationParams): number {
  const q = Math.min(p.qmax, Math.max(p.qmin, roundEven(x / p.scale) + p.zeroPoint));
  return (q - p.zeroPoint) * p.scale;
}

/** eps = mean((x - Q(x))^2) and the signal power mean(x^2) over a tensor, accumulated into `acc`. */
export function accumulateError(x: Float32Array, p: ActivationParams, acc: ErrorAcc): void {
  let se = 0;
  let sp = 0;
  const inv = 1 / p.scale;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    let q = Math.round(v * inv) + p.zeroPoint; // half-to-even differs only on exact ties: negligible for statistics
    q = q < p.qmin ? p.qmin : q > p.qmax ? p.qmax : q;
    const d = v - (q - p.zeroPoint) * p.scale;
    se += d * d;
    sp += v * v;
  }
  acc.sumSq += se;
  acc.sumSignal += sp;
  acc.count += x.length;
}

export interface ErrorAcc {
  sumSq: number;
  sumSignal: number;
  count: number;
}

export const newErrorAcc = (): ErrorAcc => ({ sumSq: 0, sumSignal: 0, count: 0 });

/** Signal-to-quantisation-noise ratio in dB (higher is better; about 6 dB per bit for a well-used range). */
export function sqnrDb(acc: ErrorAcc): number {
  if (acc.sumSq === 0) return Infinity;
  return 10 * Math.log10(acc.sumSignal / acc.sumSq);
}

export interface ChannelQuant {
  q: Int8Array;
  /** One scale per channel along `axis`. */
  scales: Float32Array;
  axis: number;
  /** eps = mean((w - Q(w))^2) over the whole tensor. */
  eps: number;
  /** mean(w^2), to put eps in proportion. */
  power: number;
}

/**
 * Per-channel symmetric int8 weights: scale_c = max|w_c| / 127, q = round(w / scale_c) in [-127, 127], zero
 * point 0. The range is restricted to +-127 (not -128) so that the grid is symmetric; onnxruntime's quantiser
 * does the same for symmetric int8. `reduceRange` uses +-63 (7 bits), which avoids the int16 saturation of
 * the u8 x s8 multiply-add pairs (VPMADDUBSW) on x86 CPUs without VNNI.
 */
export function quantizePerChannel(w: Float32Array, dims: readonly number[], axis: number, reduceRange = false): ChannelQuant {
  const channels = dims[axis]!;
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const qmax = reduceRange ? 63 : 127;
  const absMax = new Float32Array(channels);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const base = (o * channels + c) * inner;
      let m = absMax[c]!;
      for (let i = 0; i < inner; i++) m = Math.max(m, Math.abs(w[base + i]!));
      absMax[c] = m;
    }
  }
  const scales = new Float32Array(channels);
  for (let c = 0; c < channels; c++) scales[c] = absMax[c]! > 0 ? absMax[c]! / qmax : 1;
  const q = new Int8Array(w.length);
  let se = 0;
  let power = 0;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const base = (o * channels + c) * inner;
      const s = scales[c]!;
      for (let i = 0; i < inner; i++) {
        const v = w[base + i]!;
        const qi = Math.max(-qmax, Math.min(qmax, roundEven(v / s)));
        q[base + i] = qi;
        const d = v - qi * s;
        se += d * d;
        power += v * v;
      }
    }
  }
  return { q, scales, axis, eps: se / Math.max(1, w.length), power: power / Math.max(1, w.length) };
}

/** Bias as int32 with scale = inputScale * weightScale[c] (what QLinearConv / QGemm add to the int32 accumulator). */
export function quantizeBias(b: Float32Array, inputScale: number, weightScales: Float32Array): { q: Int32Array; scales: Float32Array } {
  const scales = new Float32Array(b.length);
  const q = new Int32Array(b.length);
  for (let c = 0; c < b.length; c++) {
    const s = inputScale * weightScales[weightScales.length === 1 ? 0 : c]!;
    scales[c] = s;
    q[c] = Math.max(-2147483647, Math.min(2147483647, roundEven(b[c]! / s)));
  }
  return { q, scales };
}
