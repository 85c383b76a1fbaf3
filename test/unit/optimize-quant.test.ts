import { describe, expect, it } from 'vitest';
import { entropyRange, Histogram, percentileRange, updateMinMax } from '../../scripts/optimize/histogram.js';
import { fakeQuant, quantizeBias, quantizePerChannel, roundEven, uint8Params } from '../../scripts/optimize/quant-math.js';

describe('per-channel symmetric int8 weights', () => {
  it('Conv weights [M,C,kh,kw]: one scale per output channel (axis 0), exact integers', () => {
    // Channel 0 spans +-1.27, channel 1 spans +-0.0127: per-tensor scaling would flatten channel 1 to zeros.
    const w = Float32Array.from([1.27, -0.6, 0.01, -1.27, 0.0127, -0.006, 0.0001, -0.0127]);
    const q = quantizePerChannel(w, [2, 1, 2, 2], 0);
    expect(Array.from(q.scales)).toEqual([Math.fround(1.27 / 127), Math.fround(0.0127 / 127)]);
    expect(Array.from(q.q)).toEqual([127, -60, 1, -127, 127, -60, 1, -127]);
    expect(q.axis).toBe(0);
    expect(q.eps).toBeGreaterThan(0);
    expect(q.eps).toBeLessThan(((1.27 / 127) ** 2) / 4); // at most (scale/2)^2 on each element
  });

  it('Gemm with transB=0 (B[K,N]) scales per column (axis 1); reduce range keeps +-63', () => {
    const b = Float32Array.from([2, 0.02, -1.1, -0.011, 0.5, 0.005]); // K=3, N=2: column 0 large, column 1 small
    const q = quantizePerChannel(b, [3, 2], 1);
    expect(Array.from(q.scales)).toEqual([Math.fround(2 / 127), Math.fround(0.02 / 127)]);
    expect(Array.from(q.q)).toEqual([127, 127, -70, -70, 32, 32]); // -69.85, 31.75
    const r = quantizePerChannel(b, [3, 2], 1, true);
    expect(Array.from(r.q)).toEqual([63, 63, -35, -35, 16, 16]); // -34.65, 15.75
  });

  it('an all-zero channel gets scale 1 and zeros, not NaN', () => {
    const q = quantizePerChannel(new Float32Array(4), [2, 2], 0);
    expect(Array.from(q.scales)).toEqual([1, 1]);
    expect(Array.from(q.q)).toEqual([0, 0, 0, 0]);
  });

  it('bias becomes int32 with scale = input scale x weight scale', () => {
    const r = quantizeBias(Float32Array.from([0.5, -0.25]), 0.01, Float32Array.from([0.1, 0.05]));
    expect(Array.from(r.scales)).toEqual([Math.fround(0.001), Math.fround(0.0005)]);
    expect(Array.from(r.q)).toEqual([500, -500]);
  });
});

describe('activation parameters', () => {
  it('rounds half to even like QuantizeLinear', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, 2.6].map(roundEven)).toEqual([0, 2, 2, -0, -2, 2, 3]);
  });

  it('uint8 asymmetric ranges always contain an exact zero', () => {
    const p = uint8Params(-127 / 128, 1); // UltraFace input (p - 127) / 128
    expect(p.scale).toBeCloseTo(1 / 128, 9);
    expect(p.zeroPoint).toBe(127);
    expect(fakeQuant(0, p)).toBe(0);
    const relu = uint8Params(0.2, 6); // a post-ReLU range is widened to start at 0
    expect(relu.zeroPoint).toBe(0);
    expect(fakeQuant(-3, relu)).toBe(0); // clipped like the folded ReLU
    expect(fakeQuant(6, relu)).toBeCloseTo(6, 5);
    expect(uint8Params(0, 0).scale).toBe(1);
  });
});

describe('range calibration methods', () => {
  // 10000 values uniform in [-1, 1] plus 2 outliers at 50.
  const x = Float32Array.from({ length: 10002 }, (_, i) => (i < 10000 ? (i / 9999) * 2 - 1 : 50));
  // A bell-shaped (Laplace, b = 0.2) bulk like real activations, with 5 outliers at 40: what KL calibration is for.
  const lap = Float32Array.from({ length: 20005 }, (_, i) => {
    if (i >= 20000) return 40;
    const u = (i + 0.5) / 20000 - 0.5;
    return -0.2 * Math.sign(u) * Math.log(1 - 2 * Math.abs(u));
  });
  const mm = { min: Infinity, max: -Infinity };
  updateMinMax(mm, x);
  const h = new Histogram(mm);
  h.add(x);

  it('min-max keeps the outliers', () => {
    expect(mm).toEqual({ min: -1, max: 50 });
  });

  it('percentile 99.9 clips the two outliers', () => {
    const r = percentileRange(h, 99.9);
    expect(r.max).toBeLessThan(1.1);
    expect(r.max).toBeGreaterThan(0.95);
    expect(r.min).toBeLessThan(-0.95);
  });

  it('entropy (KL) picks a threshold near the bulk of the distribution', () => {
    const lmm = { min: Infinity, max: -Infinity };
    updateMinMax(lmm, lap);
    const lh = new Histogram(lmm);
    lh.add(lap);
    const r = entropyRange(lh, lmm, 128);
    expect(r.max).toBeLessThan(5); // far below the outliers at 40
    expect(r.max).toBeGreaterThan(0.6); // above 3 b: keeps the bulk
    expect(r.min).toBe(lmm.min); // the negative side has no outliers: kept whole
  });
});
