/**
 * Activation range estimation from calibration statistics: min-max, percentile and entropy (KL divergence).
 * The entropy method follows the idea of NVIDIA's TensorRT calibrator (S. Migacz, "8-bit Inference with
 * TensorRT", GTC 2017): pick the clipping threshold whose quantised distribution is closest, in KL divergence,
 * to the observed one.
 */

export type CalibrationMethod = 'minmax' | 'percentile' | 'entropy';

export const HIST_BINS = 2048;

/** Running min/max of one tensor over the calibration frames (pass 1). */
export interface MinMax {
  min: number;
  max: number;
}

export function updateMinMax(mm: MinMax, x: Float32Array): void {
  let lo = mm.min;
  let hi = mm.max;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  mm.min = lo;
  mm.max = hi;
}

/** Histogram of one tensor over a fixed range (pass 2); the range comes from pass 1's min-max. */
export class Histogram {
  readonly counts: Float64Array;
  readonly lo: number;
  readonly hi: number;
  /** Histogram of |x| over [0, max(|lo|,|hi|)], used by the entropy method. */
  readonly absCounts: Float64Array;
  readonly absMax: number;

  constructor(range: MinMax, bins = HIST_BINS) {
    this.lo = range.min;
    this.hi = range.max > range.min ? range.max : range.min + 1e-6;
    this.counts = new Float64Array(bins);
    this.absMax = Math.max(Math.abs(range.min), Math.abs(range.max), 1e-6);
    this.absCounts = new Float64Array(bins);
  }

  add(x: Float32Array): void {
    const n = this.counts.length;
    const k = n / (this.hi - this.lo);
    const ka = n / this.absMax;
    for (let i = 0; i < x.length; i++) {
      const v = x[i]!;
      let b = Math.floor((v - this.lo) * k);
      b = b < 0 ? 0 : b >= n ? n - 1 : b;
      this.counts[b]!++;
      let a = Math.floor(Math.abs(v) * ka);
      a = a >= n ? n - 1 : a;
      this.absCounts[a]!++;
    }
  }

  /** The value below which a fraction `q` (0..1) of the samples lie (linear inside the bin). */
  quantile(q: number): number {
    const total = this.counts.reduce((a, b) => a + b, 0);
    const target = q * total;
    const w = (this.hi - this.lo) / this.counts.length;
    let acc = 0;
    for (let b = 0; b < this.counts.length; b++) {
      const c = this.counts[b]!;
      if (acc + c >= target) return this.lo + w * (b + (c > 0 ? (target - acc) / c : 0));
      acc += c;
    }
    return this.hi;
  }
}

/** Two-sided percentile range: each tail beyond `percentile` (e.g. 99.99) is clipped. */
export function percentileRange(h: Histogram, percentile: number): MinMax {
  const tail = (100 - percentile) / 100;
  const min = h.lo >= 0 ? h.lo : h.quantile(tail);
  const max = h.quantile(1 - tail);
  return { min, max };
}

/**
 * Entropy (KL) threshold T on |x|: among candidate thresholds, the one minimising KL(P || Q), where P is the
 * histogram clipped at T (outliers folded into the last bin) and Q is P merged into `levels` quantisation bins
 * and spread back over the non-empty bins (the bin at zero left out). Returns [max(min,-T), min(max,T)].
 */
export function entropyRange(h: Histogram, range: MinMax, levels: number, step = 16): MinMax {
  const hist = h.absCounts;
  const n = hist.length;
  let bestT = h.absMax;
  let bestKl = Infinity;
  const start = Math.max(levels, 128);
  for (let i = start; i <= n; i += step) {
    const p = Array.from(hist.subarray(0, i));
    // Bin 0 holds the exact zeros a ReLU writes (often most of the tensor); zero is exactly representable, so the
    // spike says nothing about the threshold and would make every clipped distribution look alike.
    p[0] = 0;
    let outliers = 0;
    for (let j = i; j < n; j++) outliers += hist[j]!;
    p[i - 1]! += outliers;
    const total = p.reduce((a, b) => a + b, 0);
    if (total === 0) continue;
    const q = new Float64Array(i);
    const per = i / levels;
    for (let l = 0; l < levels; l++) {
      const a = Math.floor(l * per);
      const b = l === levels - 1 ? i : Math.floor((l + 1) * per);
      let sum = 0;
      let nonZero = 0;
      for (let j = a; j < b; j++) {
        // Q is built from the histogram WITHOUT the folded outliers: clipping then costs KL in the last bin,
        // which is what stops the search from always preferring the smallest threshold.
        const h = j === 0 ? 0 : hist[j]!;
        sum += h;
        if (h > 0) nonZero++;
      }
      if (nonZero) for (let j = a; j < b; j++) if ((j === 0 ? 0 : hist[j]!) > 0) q[j] = sum / nonZero;
    }
    const qTotal = q.reduce((a, b) => a + b, 0);
    let kl = 0;
    for (let j = 0; j < i; j++) {
      const pj = p[j]! / total;
      if (pj === 0) continue;
      const qj = q[j]! / (qTotal || 1);
      kl += qj > 0 ? pj * Math.log(pj / qj) : pj * 20; // a bin Q cannot represent: heavy penalty
    }
    if (kl < bestKl) {
      bestKl = kl;
      bestT = (i / n) * h.absMax;
    }
  }
  return { min: Math.max(range.min, -bestT), max: Math.min(range.max, bestT) };
}
