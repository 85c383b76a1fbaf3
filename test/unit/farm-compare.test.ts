import { describe, expect, it } from 'vitest';
import { compareDay } from '../../scripts/field-scene/compare.js';
import type { FieldTruth } from '../../scripts/field-scene/truth.js';

/** A 12-frame day with one zone; frames 2-9 are the watering window. */
function truth(moisture: number[], raining: number[] = moisture.map(() => 0)): FieldTruth {
  const dry = moisture.map((m) => (m < 30 ? 1 : 0)) as Array<0 | 1>;
  return {
    generator: 1, seed: 0, width: 160, height: 120, fps: 12, frames: moisture.length, minutesPerFrame: 5, needsWaterBelow: 30,
    zones: [{ id: 0, name: 'zone-1', box: [0, 0, 1, 1], sensor: 's', moisture, drySoil: dry, needsWater: dry.map((d, i) => (d && !raining[i] ? 1 : 0)) as Array<0 | 1>, wilted: dry, wateredAt: [], sensorGaps: [] }],
    raining: raining as Array<0 | 1>, rainMm: raining, light: moisture.map(() => 'day'), visitors: [], readings: {},
  };
}
const opts = { inWindow: (t: number) => t >= 2 && t <= 9, belowPct: 30, runFrames: 2, zoneName: () => 'zone-1' };
const open = (frame: number, durationS = 60) => ({ frame, zone: 'zone-1', durationS, atMs: frame * 300_000 });

describe('compareDay', () => {
  it('a zone clearly dry in its window and not watered is missed; watered, it counts', () => {
    const t = truth([40, 40, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25]);
    expect(compareDay(t, [], opts)).toMatchObject({ neededSpans: 1, wateredSpans: 0, missed: [['zone-1', 2, 9]] });
    expect(compareDay(t, [open(5)], opts)).toMatchObject({ neededSpans: 1, wateredSpans: 1, missed: [], wetOrRain: [] });
  });

  it('dry for too few frames, or only within the margin, is not a miss (borderline is reported apart)', () => {
    expect(compareDay(truth([40, 40, 40, 40, 40, 40, 40, 25, 25, 40, 40, 40]), [], opts)).toMatchObject({ neededSpans: 0, missed: [], borderlineMissed: [] });
    expect(compareDay(truth([40, 40, 29, 29, 29, 29, 29, 29, 29, 29, 40, 40]), [], opts)).toMatchObject({ neededSpans: 0, missed: [], borderlineMissed: [['zone-1', 2, 9]] });
  });

  it('watering when wet or raining is wrong; within the margin it is borderline', () => {
    const t = truth([40, 31, 40, 25, 25, 25, 25, 25, 25, 25, 40, 40], [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    const c = compareDay(t, [open(1), open(2), open(5), open(6)], opts);
    expect(c.wetOrRain.map((o) => o.frame)).toEqual([2, 5]);
    expect(c.borderline.map((o) => o.frame)).toEqual([1]);
  });

  it('budgets and valves open at once from the openings', () => {
    const t = truth(Array(12).fill(20));
    t.zones.push({ ...t.zones[0]!, id: 1, name: 'zone-2' });
    const c = compareDay(t, [{ ...open(3, 100), zone: 'zone-1' }, { frame: 3, zone: 'zone-2', durationS: 50, atMs: 3 * 300_000 + 10_000 }, open(5, 30)], { ...opts, zoneName: (id) => `zone-${id + 1}` });
    expect(c.zoneSeconds).toEqual({ 'zone-1': 130, 'zone-2': 50 });
    expect(c.farmSeconds).toBe(180);
    expect(c.maxOpenAtOnce).toBe(2);
  });
});
