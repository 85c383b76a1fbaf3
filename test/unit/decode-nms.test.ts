import { describe, expect, it } from 'vitest';
import { Candidates } from '../../agent/decode/candidates.js';
import { iou, nms, type NmsOptions } from '../../agent/decode/nms.js';
import { sourceMap } from '../../agent/decode/geometry.js';
import type { Geometry } from '../../agent/types.js';

function cands(rows: Array<[number, number, number, number, number, number]>, kps?: Array<Array<[number, number]>>): Candidates {
  const c = new Candidates();
  c.reset(kps?.[0]?.length ?? 0);
  rows.forEach((r, i) => {
    const j = c.push(...r);
    kps?.[i]?.forEach(([x, y], k) => c.setKeypoint(j, k, x, y));
  });
  return c;
}

function rows(c: Candidates): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < c.count; i++) out.push([c.x1[i]!, c.y1[i]!, c.x2[i]!, c.y2[i]!, c.score[i]!, c.cls[i]!]);
  return out;
}

const opts = (o: Partial<NmsOptions>): NmsOptions => ({ iou: 0.5, classAgnostic: false, method: 'hard', maxDetections: 100, ...o });

describe('iou', () => {
  it('computes exact overlaps', () => {
    expect(iou(0, 0, 10, 10, 5, 5, 15, 15)).toBeCloseTo(25 / 175, 12);
    expect(iou(0, 0, 10, 10, 0, 0, 10, 5)).toBe(0.5);
    expect(iou(0, 0, 10, 10, 0, 0, 10, 10)).toBe(1);
  });
  it('is 0 for disjoint, touching and degenerate boxes', () => {
    expect(iou(0, 0, 10, 10, 20, 20, 30, 30)).toBe(0);
    expect(iou(0, 0, 10, 10, 10, 0, 20, 10)).toBe(0);
    expect(iou(0, 0, 0, 0, 0, 0, 0, 0)).toBe(0);
  });
});

describe('nms', () => {
  // A and B overlap with IoU 81/119 = 0.6807; C is B's box with another class; D is far away.
  const input = (): Candidates =>
    cands([
      [1, 1, 11, 11, 0.8, 0], // B
      [0, 0, 10, 10, 0.9, 0], // A
      [20, 20, 30, 30, 0.6, 0], // D
      [1, 1, 11, 11, 0.7, 1], // C
    ]);

  it('hard, class-aware: keeps the best of each overlapping same-class group, best first', () => {
    const out = new Candidates();
    nms(input(), opts({}), out);
    expect(rows(out)).toEqual([
      [0, 0, 10, 10, 0.9, 0],
      [1, 1, 11, 11, 0.7, 1],
      [20, 20, 30, 30, 0.6, 0],
    ]);
  });

  it('hard, class-agnostic: other classes suppress too', () => {
    const out = new Candidates();
    nms(input(), opts({ classAgnostic: true }), out);
    expect(rows(out)).toEqual([
      [0, 0, 10, 10, 0.9, 0],
      [20, 20, 30, 30, 0.6, 0],
    ]);
  });

  it('suppresses only above the IoU threshold (strictly greater)', () => {
    const out = new Candidates();
    nms(input(), opts({ iou: 81 / 119 }), out);
    expect(out.count).toBe(4);
    nms(input(), opts({ iou: 0.68 }), out);
    expect(out.count).toBe(3);
  });

  it('caps at maxDetections', () => {
    const out = new Candidates();
    nms(input(), opts({ maxDetections: 2 }), out);
    expect(rows(out).map((r) => r[4])).toEqual([0.9, 0.7]);
  });

  it('none: sorts and caps without suppressing', () => {
    const out = new Candidates();
    nms(input(), opts({ method: 'none', maxDetections: 3 }), out);
    expect(rows(out).map((r) => r[4])).toEqual([0.9, 0.8, 0.7]);
  });

  it('weighted: averages the cluster by score, keeps the top score, and averages keypoints', () => {
    const c = cands(
      [
        [0, 0, 10, 10, 0.9, 0],
        [1, 1, 11, 11, 0.8, 0],
        [20, 20, 30, 30, 0.6, 0],
      ],
      [[[5, 5]], [[6, 7]], [[25, 25]]],
    );
    const out = new Candidates();
    nms(c, opts({ method: 'weighted', iou: 0.3 }), out);
    expect(out.count).toBe(2);
    const w = 0.8 / 1.7;
    expect(out.x1[0]).toBeCloseTo(w, 12);
    expect(out.y1[0]).toBeCloseTo(w, 12);
    expect(out.x2[0]).toBeCloseTo(10 + w, 12);
    expect(out.y2[0]).toBeCloseTo(10 + w, 12);
    expect(out.score[0]).toBe(0.9);
    expect(out.kps[0]).toBeCloseTo((5 * 0.9 + 6 * 0.8) / 1.7, 12);
    expect(out.kps[1]).toBeCloseTo((5 * 0.9 + 7 * 0.8) / 1.7, 12);
    expect(rows(out)[1]).toEqual([20, 20, 30, 30, 0.6, 0]);
    expect([out.kps[2], out.kps[3]]).toEqual([25, 25]);
  });

  it('weighted, class-aware: does not merge different classes', () => {
    const c = cands([
      [0, 0, 10, 10, 0.9, 0],
      [0, 0, 10, 10, 0.8, 1],
    ]);
    const out = new Candidates();
    nms(c, opts({ method: 'weighted' }), out);
    expect(rows(out)).toEqual([
      [0, 0, 10, 10, 0.9, 0],
      [0, 0, 10, 10, 0.8, 1],
    ]);
  });

  it('handles more candidates than the initial buffers', () => {
    const c = new Candidates();
    c.reset();
    for (let i = 0; i < 1000; i++) c.push(i * 20, 0, i * 20 + 10, 10, (i % 97) / 100, 0);
    const out = new Candidates();
    nms(c, opts({ maxDetections: 1000 }), out);
    expect(out.count).toBe(1000);
    expect(out.score[0]).toBe(0.96);
  });
});

describe('letterbox undo', () => {
  it('maps input pixels to source-normalised coordinates through the padding', () => {
    // 640x480 letterboxed into 320x320: scale 0.5, content 320x240 at padY 40.
    const g: Geometry = { srcWidth: 640, srcHeight: 480, width: 320, height: 320, padX: 0, padY: 40, contentWidth: 320, contentHeight: 240 };
    const m = sourceMap(g, 320, 320);
    expect([80 * m.sx + m.ox, 100 * m.sy + m.oy, 240 * m.sx + m.ox, 220 * m.sy + m.oy]).toEqual([0.25, 0.25, 0.75, 0.75]);
  });
  it('accounts for frames of another size than the input', () => {
    // Frames at 640x640 fed to a 320x320 input: input pixel 100 is frame pixel 200.
    const g: Geometry = { srcWidth: 1280, srcHeight: 640, width: 640, height: 640, padX: 0, padY: 160, contentWidth: 640, contentHeight: 320 };
    const m = sourceMap(g, 320, 320);
    expect(100 * m.sx + m.ox).toBe(200 / 640);
    expect(160 * m.sy + m.oy).toBe((320 - 160) / 320);
  });
});
