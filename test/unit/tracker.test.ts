import { describe, expect, it } from 'vitest';
import { IouTracker } from '../../agent/tracker/tracker.js';
import { iou } from '../../agent/tracker/iou.js';
import type { Detection } from '../../agent/types.js';

const det = (x: number, label = 'part', score = 0.9): Detection => ({ classId: 0, label, score, box: [x, 0.4, x + 0.2, 0.6] });

describe('iou', () => {
  it('computes exact overlaps', () => {
    expect(iou([0, 0, 2, 2], [1, 1, 3, 3])).toBeCloseTo(1 / 7, 12);
    expect(iou([0, 0, 1, 1], [0, 0, 1, 1])).toBe(1);
    expect(iou([0, 0, 1, 1], [1, 0, 2, 1])).toBe(0);
  });
});

describe('IouTracker', () => {
  it('keeps one identity for an object moving along a belt, even when it moves far between frames', () => {
    // 0.12 per frame: consecutive boxes overlap with IoU 0.25 < 0.3; the centre gate and then the velocity keep the track.
    const t = new IouTracker({ iou: 0.3, maxAgeMs: 500, centreGate: 0.75 });
    const ids = new Set<number>();
    for (let i = 0; i < 6; i++) ids.add(t.update([det(0.05 + 0.12 * i)], i * 66)[0]!.trackId);
    expect(ids.size).toBe(1);
    // Without the centre gate the first jump cannot be matched (no velocity yet): every frame starts a new track.
    const strict = new IouTracker({ iou: 0.3, maxAgeMs: 500, centreGate: 0 });
    const ids1 = new Set<number>();
    for (let i = 0; i < 6; i++) ids1.add(strict.update([det(0.05 + 0.12 * i)], i * 66)[0]!.trackId);
    expect(ids1.size).toBe(6);
    const t2 = new IouTracker({ iou: 0.3, maxAgeMs: 500, centreGate: 0.75 });
    const ids2 = new Set<number>();
    for (let i = 0; i < 10; i++) ids2.add(t2.update([det(0.05 + 0.05 * i)], i * 66)[0]!.trackId);
    expect(ids2.size).toBe(1);
  });

  it('keeps the identity when the label flickers (class-agnostic matching)', () => {
    const t = new IouTracker({ iou: 0.3, maxAgeMs: 500, centreGate: 0.75 });
    const a = t.update([det(0.1, 'part')], 0)[0]!;
    const b = t.update([det(0.12, 'defect')], 66)[0]!;
    expect(b.trackId).toBe(a.trackId);
    expect(b.hits).toBe(2);
  });

  it('separates two objects and ends tracks after maxAgeMs', () => {
    const t = new IouTracker({ iou: 0.3, maxAgeMs: 200, centreGate: 0.75 });
    const [a, b] = t.update([det(0.1), det(0.6)], 0);
    expect(a!.trackId).not.toBe(b!.trackId);
    t.update([det(0.62)], 100);
    expect(t.ended()).toEqual([]);
    t.update([], 250);
    expect(t.ended()).toEqual([a!.trackId]);
    const c = t.update([det(0.1)], 300)[0]!;
    expect(c.trackId).not.toBe(a!.trackId);
  });
});
