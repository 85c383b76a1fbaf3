import { describe, expect, it } from 'vitest';
import { createMotionGate, meanAbsDiff, thumbnail, type MotionGateConfig } from '../../agent/pipeline/motion.js';
import type { Clock, Frame } from '../../agent/types.js';

const W = 320;
const H = 240;

/** A seeded scene: a lit gradient with per-pixel sensor noise, optionally a dark box at (bx, by). */
function scene(seed: number, box?: { x: number; y: number; s?: number }, brightness = 0): Frame {
  let r = seed >>> 0 || 1;
  const rnd = () => ((r = (r * 1664525 + 1013904223) >>> 0) / 2 ** 32);
  const data = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const inBox = box && x >= box.x && x < box.x + (box.s ?? 40) && y >= box.y && y < box.y + (box.s ?? 40);
      const base = inBox ? 30 : 90 + (x * 80) / W + brightness;
      for (let c = 0; c < 3; c++) data[(y * W + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(base + (rnd() - 0.5) * 16)));
    }
  }
  return { seq: seed, captureMono: 0, captureWall: 0, ptsMs: 0, width: W, height: H, format: 'rgb24', data };
}

function fakeClock(): Clock & { t: number } {
  const c = { t: 0, now: () => c.t, wall: () => 1_700_000_000_000 + c.t };
  return c;
}

const on: MotionGateConfig = { enabled: true, threshold: 2, forceEveryMs: 5_000 };

describe('motion gate', () => {
  it('infers the first frame, skips a static noisy scene, infers when an object moves in', () => {
    const clock = fakeClock();
    const gate = createMotionGate(on, clock);
    expect(gate(scene(1))).toBe(true);
    const skipped = [];
    for (let i = 2; i < 12; i++) {
      clock.t += 100;
      skipped.push(gate(scene(i)));
    }
    // Different noise every frame, same scene: the 3x3 box average keeps the difference under the threshold.
    expect(skipped.every((x) => x === false)).toBe(true);
    expect(gate.stats().lastDifference).toBeLessThan(2);
    clock.t += 100;
    expect(gate(scene(20, { x: 100, y: 100, s: 60 }))).toBe(true);
    expect(gate.stats().lastDifference).toBeGreaterThan(2);
    expect(gate.stats()).toMatchObject({ frames: 12, inferred: 2, skipped: 10, forced: 0 });
  });

  it('compares with the last inferred frame, so a slow drift adds up and triggers', () => {
    const clock = fakeClock();
    const gate = createMotionGate(on, clock);
    gate(scene(1, undefined, 0));
    const results: boolean[] = [];
    // The scene brightens by 0.5 grey level per frame: each step is far under the threshold.
    for (let i = 1; i <= 8; i++) {
      clock.t += 100;
      results.push(gate(scene(100 + i, undefined, i * 0.5)));
    }
    expect(results.slice(0, 3)).toEqual([false, false, false]);
    expect(results).toContain(true);
  });

  it('forces an inference every forceEveryMs in an unchanging scene', () => {
    const clock = fakeClock();
    const gate = createMotionGate({ ...on, forceEveryMs: 1_000 }, clock);
    const out: boolean[] = [];
    for (let i = 0; i < 31; i++) {
      out.push(gate(scene(i + 1)));
      clock.t += 100;
    }
    // t = 0, 1000, 2000, 3000 infer; the rest are skipped.
    expect(out.map((x, i) => (x ? i : -1)).filter((i) => i >= 0)).toEqual([0, 10, 20, 30]);
    expect(gate.stats()).toMatchObject({ inferred: 4, forced: 3, skipped: 27 });
  });

  it('disabled: every frame passes and nothing is skipped', () => {
    const gate = createMotionGate({ ...on, enabled: false }, fakeClock());
    for (let i = 0; i < 5; i++) expect(gate(scene(1))).toBe(true);
    expect(gate.stats()).toMatchObject({ frames: 5, inferred: 5, skipped: 0 });
  });

  it('reports the energy saved as skipped inferences x energy per inference', () => {
    const clock = fakeClock();
    // e.g. a Pi 4 at 2.7 W static, 80 ms per inference: 0.216 J of static energy alone.
    const gate = createMotionGate(on, clock, { energyPerInferenceJ: () => 0.25 });
    for (let i = 0; i < 10; i++) {
      gate(scene(i + 1));
      clock.t += 100;
    }
    const s = gate.stats();
    expect(s.skipped).toBe(9);
    expect(s.skipRatio).toBeCloseTo(0.9);
    expect(s.energySavedJ).toBeCloseTo(2.25);
    expect(createMotionGate(on, clock).stats().energySavedJ).toBeUndefined();
  });

  it('thumbnail: box-averaged Rec.601 luma, BGR, gbrp and grey frames give the same picture as RGB', () => {
    const f = scene(3, { x: 0, y: 0, s: 160 });
    const bgr = new Uint8Array(f.data.length);
    const grey = new Uint8Array(W * H);
    for (let i = 0; i < W * H; i++) {
      const [r, g, b] = [f.data[i * 3]!, f.data[i * 3 + 1]!, f.data[i * 3 + 2]!];
      bgr.set([b, g, r], i * 3);
      grey[i] = (77 * r + 150 * g + 29 * b) >> 8;
    }
    const a = new Uint8Array(80 * 60);
    const b = new Uint8Array(80 * 60);
    const c = new Uint8Array(80 * 60);
    thumbnail(f, 80, 60, a);
    thumbnail({ ...f, format: 'bgr24', data: bgr }, 80, 60, b);
    thumbnail({ ...f, format: 'gray', data: grey }, 80, 60, c);
    expect(meanAbsDiff(a, b)).toBe(0);
    expect(meanAbsDiff(a, c)).toBe(0);
    // gbrp planes (G, B, R) of the same picture.
    const gbrp = new Uint8Array(f.data.length);
    for (let i = 0; i < W * H; i++) {
      gbrp[i] = f.data[i * 3 + 1]!;
      gbrp[W * H + i] = f.data[i * 3 + 2]!;
      gbrp[2 * W * H + i] = f.data[i * 3]!;
    }
    const d = new Uint8Array(80 * 60);
    thumbnail({ ...f, format: 'gbrp', data: gbrp }, 80, 60, d);
    expect(meanAbsDiff(a, d)).toBe(0);
    // Top-left quarter is the dark box (~30), the rest the gradient (>= 90).
    expect(a[0]).toBeLessThan(40);
    expect(a[79]).toBeGreaterThan(150);
  });
});
