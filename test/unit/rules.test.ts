import { describe, expect, it } from 'vitest';
import { RuleEngine, type FrameFacts } from '../../agent/rules/engine.js';
import { ruleSchema, type RuleConfig } from '../../agent/config/sections/rules.js';
import { inSchedule } from '../../agent/rules/schedule.js';
import { boxInZone, pointInPolygon, polygonProblem } from '../../agent/rules/zone.js';
import type { TrackedDetection } from '../../agent/types.js';

const rule = (r: unknown): RuleConfig => ruleSchema.parse(r);
const d = (trackId: number, label: string, score: number, x = 0.4): TrackedDetection => ({ classId: 0, label, score, box: [x, 0.4, x + 0.1, 0.5], trackId, hits: 1 });
const facts = (ptsMs: number, detections: TrackedDetection[], endedTracks: number[] = [], wallMs = Date.UTC(2026, 0, 5, 12)): FrameFacts => ({ ptsMs, wallMs, detections, endedTracks });

const defect = rule({ name: 'defect', type: 'anomaly', labels: { defect: 0.5 }, persistence: { n: 3, m: 5 }, actions: [{ type: 'event' }] });

describe('anomaly rule', () => {
  it('fires once per track after N of the last M frames, never again for that track', () => {
    const e = new RuleEngine([defect]);
    const seq = [0.9, 0.2, 0.8, 0.7, 0.9, 0.9, 0.95];
    const fired = seq.map((s, i) => e.evaluate(facts(i * 66, [d(1, s >= 0.5 ? 'defect' : 'part', s)])).length);
    // hits at frames 0,2,3 -> third hit at frame 3 (3 of the last 4 <= 5): fires there and only there.
    expect(fired).toEqual([0, 0, 0, 1, 0, 0, 0]);
  });

  it('counts frames where the track was not seen as misses', () => {
    const e = new RuleEngine([defect]);
    expect(e.evaluate(facts(0, [d(1, 'defect', 0.9)]))).toHaveLength(0);
    expect(e.evaluate(facts(66, []))).toHaveLength(0);
    expect(e.evaluate(facts(132, []))).toHaveLength(0);
    expect(e.evaluate(facts(198, []))).toHaveLength(0);
    expect(e.evaluate(facts(264, [d(1, 'defect', 0.9)]))).toHaveLength(0);
    // window now [hit, miss, miss, miss, hit] -> 2 of 5: a third hit pushes the first out: still 2. No firing.
    expect(e.evaluate(facts(330, [d(1, 'defect', 0.9)]))).toHaveLength(0);
    expect(e.evaluate(facts(396, [d(1, 'defect', 0.9)]))).toHaveLength(1);
  });

  it('ignores labels below their minimum score and other labels', () => {
    const e = new RuleEngine([rule({ ...defect, persistence: { n: 1, m: 1 } })]);
    expect(e.evaluate(facts(0, [d(1, 'defect', 0.49), d(2, 'part', 0.99)]))).toHaveLength(0);
    const f = e.evaluate(facts(66, [d(1, 'defect', 0.5)]));
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ label: 'defect', score: 0.5, trackId: 1, thresholds: { defect: 0.5 } });
  });

  it('applies the cooldown across tracks', () => {
    const e = new RuleEngine([rule({ ...defect, persistence: { n: 1, m: 1 }, cooldownMs: 1000 })]);
    expect(e.evaluate(facts(0, [d(1, 'defect', 0.9)]))).toHaveLength(1);
    expect(e.evaluate(facts(500, [d(2, 'defect', 0.9)]))).toHaveLength(0);
    expect(e.evaluate(facts(1000, [d(3, 'defect', 0.9)]))).toHaveLength(1);
  });

  it('fires per frame when perTrack is off (limited by cooldown)', () => {
    const e = new RuleEngine([rule({ ...defect, persistence: { n: 1, m: 1 }, perTrack: false, cooldownMs: 100 })]);
    const n = [0, 50, 100, 150, 200].map((t) => e.evaluate(facts(t, [d(1, 'defect', 0.9)])).length);
    expect(n).toEqual([1, 0, 1, 0, 1]);
  });

  it('only counts detections inside the zone', () => {
    const e = new RuleEngine([rule({ ...defect, persistence: { n: 1, m: 1 }, zone: { polygon: [[0, 0], [0.5, 0], [0.5, 1], [0, 1]] } })]);
    expect(e.evaluate(facts(0, [d(1, 'defect', 0.9, 0.7)]))).toHaveLength(0);
    expect(e.evaluate(facts(66, [d(2, 'defect', 0.9, 0.2)]))).toHaveLength(1);
  });

  it('keeps per-track state only while the track lives', () => {
    const e = new RuleEngine([defect]);
    e.evaluate(facts(0, [d(1, 'defect', 0.9)]));
    e.evaluate(facts(66, [d(1, 'defect', 0.9)]));
    // Track 1 ends; a new track 1 (ids are not reused by the tracker, but the engine must not care) starts fresh.
    expect(e.evaluate(facts(132, [d(1, 'defect', 0.9)], [1]))).toHaveLength(0);
  });

  it('a failing rule is counted, logged and skipped; the engine keeps working', () => {
    const zoned = rule({ ...defect, name: 'zoned', persistence: { n: 1, m: 1 }, zone: { polygon: [[0, 0], [1, 0], [1, 1]] } });
    const count = rule({ name: 'many', type: 'count', label: 'defect', op: 'gt', count: 0, actions: [{ type: 'event' }] });
    const e = new RuleEngine([zoned, count]);
    // A detection whose box cannot be read makes the zone test throw inside the rule.
    const evil = { ...d(1, 'defect', 0.9) } as TrackedDetection;
    Object.defineProperty(evil, 'box', { get: () => { throw new Error('boom'); } });
    expect(() => e.evaluate(facts(0, [evil]))).not.toThrow();
    expect(e.errors.get('zoned')).toBe(1);
    expect(e.errors.get('many')).toBe(1);
    const f = e.evaluate(facts(66, [d(2, 'defect', 0.9, 0.6)]));
    expect(f.map((x) => x.rule.name).sort()).toEqual(['many', 'zoned']);
  });
});

describe('count and absence rules', () => {
  it('fires when fewer than K objects are seen for forMs, once per episode', () => {
    const e = new RuleEngine([rule({ name: 'few', type: 'count', label: 'plant', op: 'lt', count: 2, forMs: 1000, actions: [{ type: 'event' }] })]);
    const plants = (n: number): TrackedDetection[] => Array.from({ length: n }, (_, i) => d(i + 1, 'plant', 0.9, i * 0.2));
    expect(e.evaluate(facts(0, plants(1)))).toHaveLength(0);
    expect(e.evaluate(facts(999, plants(1)))).toHaveLength(0);
    const f = e.evaluate(facts(1000, plants(1)));
    expect(f).toHaveLength(1);
    expect(f[0]!.count).toBe(1);
    expect(e.evaluate(facts(3000, plants(0)))).toHaveLength(0); // same episode
    expect(e.evaluate(facts(3100, plants(2)))).toHaveLength(0); // condition clears
    expect(e.evaluate(facts(3200, plants(1)))).toHaveLength(0);
    expect(e.evaluate(facts(4200, plants(1)))).toHaveLength(1); // a new episode
  });

  it('fires on more than K (queue too long)', () => {
    const e = new RuleEngine([rule({ name: 'queue', type: 'count', label: 'person', op: 'gt', count: 2, actions: [{ type: 'event' }] })]);
    expect(e.evaluate(facts(0, [d(1, 'person', 0.9), d(2, 'person', 0.9)]))).toHaveLength(0);
    expect(e.evaluate(facts(66, [d(1, 'person', 0.9), d(2, 'person', 0.9), d(3, 'person', 0.9, 0.8)]))).toHaveLength(1);
  });

  it('absence fires when nothing of the label is seen for forMs', () => {
    const e = new RuleEngine([rule({ name: 'gone', type: 'absence', label: 'cow', forMs: 500, actions: [{ type: 'event' }] })]);
    expect(e.evaluate(facts(0, [d(1, 'cow', 0.9)]))).toHaveLength(0);
    expect(e.evaluate(facts(100, []))).toHaveLength(0);
    expect(e.evaluate(facts(599, []))).toHaveLength(0);
    const f = e.evaluate(facts(600, []));
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ trackId: null, count: 0, bbox: [0, 0, 1, 1] });
  });
});

describe('schedules and zones', () => {
  it('evaluates local-time windows, including ones past midnight and day filters', () => {
    const at = (day: number, h: number, m = 0): number => new Date(2026, 0, 4 + day, h, m).getTime(); // 2026-01-04 is a Sunday
    const morning = [{ from: '05:00', to: '09:00' }];
    expect(inSchedule(morning, at(1, 4, 59))).toBe(false);
    expect(inSchedule(morning, at(1, 5, 0))).toBe(true);
    expect(inSchedule(morning, at(1, 8, 59))).toBe(true);
    expect(inSchedule(morning, at(1, 9, 0))).toBe(false);
    const night = [{ from: '22:00', to: '02:00', days: ['fri' as const] }];
    expect(inSchedule(night, at(5, 23))).toBe(true); // Friday 23:00
    expect(inSchedule(night, at(6, 1))).toBe(true); // Saturday 01:00, window started Friday
    expect(inSchedule(night, at(6, 23))).toBe(false); // Saturday night is not in the window
    expect(inSchedule(undefined, at(0, 3))).toBe(true);
  });

  it('tests points and boxes against polygons', () => {
    const tri: Array<[number, number]> = [[0, 0], [1, 0], [0, 1]];
    expect(pointInPolygon(0.2, 0.2, tri)).toBe(true);
    expect(pointInPolygon(0.6, 0.6, tri)).toBe(false);
    expect(boxInZone([0.1, 0.1, 0.3, 0.3], { polygon: tri, test: 'box' })).toBe(true);
    expect(boxInZone([0.1, 0.1, 0.6, 0.6], { polygon: tri, test: 'box' })).toBe(false);
    expect(boxInZone([0.1, 0.1, 0.6, 0.6], { polygon: tri, test: 'center' })).toBe(true);
  });

  it('rejects self-intersecting and flat polygons at config load', () => {
    expect(polygonProblem([[0, 0], [1, 1], [1, 0], [0, 1]])).toMatch(/cross/);
    expect(polygonProblem([[0, 0], [0.5, 0.5], [1, 1]])).toMatch(/no area/);
    const bad = ruleSchema.safeParse({ ...defect, zone: { polygon: [[0, 0], [1, 1], [1, 0], [0, 1]] } });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues[0]!.path).toEqual(['zone', 'polygon']);
  });
});
