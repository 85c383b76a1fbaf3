import { describe, expect, it } from 'vitest';
import { FrameRateCap, Governor, type GovernorConfig } from '../../agent/pipeline/governor.js';

const cfg: GovernorConfig = { enabled: true, overBudgetMs: 10_000, maxTempC: 80, hysteresisC: 5 };
const variants = ['fp32', 'int8', 'int8-small'];

/** Drives the governor on a fake clock: one tick per `stepMs` for `forMs`, returns every decision. */
function run(g: Governor, from: number, forMs: number, tick: { latencyP95Ms?: number; tempC?: number; throttled?: boolean }, stepMs = 500) {
  const out = [];
  for (let t = from; t <= from + forMs; t += stepMs) out.push(g.tick({ now: t, ...tick }));
  return out;
}

describe('governor', () => {
  it('holds when disabled, whatever the measurements', () => {
    const g = new Governor({ ...cfg, enabled: false }, { variants, budgetMs: 100 });
    const d = run(g, 0, 60_000, { latencyP95Ms: 900, tempC: 95, throttled: true });
    expect(d.every((x) => x.action === 'hold' && x.variant === 'fp32')).toBe(true);
    expect(d.at(-1)!.reason).toBe('governor disabled');
  });

  it('steps down only after the latency has been over budget for overBudgetMs', () => {
    const g = new Governor(cfg, { variants, budgetMs: 100 });
    const early = g.tick({ now: 0, latencyP95Ms: 150 });
    expect(early.action).toBe('hold');
    expect(early.reason).toMatch(/over the 100 ms budget for 0 ms \(steps down after 10000 ms\)/);
    expect(g.tick({ now: 9_999, latencyP95Ms: 150 }).action).toBe('hold');
    const d = g.tick({ now: 10_000, latencyP95Ms: 150 });
    expect(d).toMatchObject({ action: 'down', changed: true, variant: 'int8', variantIndex: 1, fpsCap: undefined });
    expect(d.reason).toBe('step down: variant fp32 -> int8 because p95 latency 150.0 ms over the 100 ms budget for 10000 ms');
  });

  it('a dip under budget restarts the over-budget timer', () => {
    const g = new Governor(cfg, { variants, budgetMs: 100 });
    g.tick({ now: 0, latencyP95Ms: 150 });
    g.tick({ now: 8_000, latencyP95Ms: 150 });
    g.tick({ now: 8_500, latencyP95Ms: 90 });
    expect(g.tick({ now: 12_000, latencyP95Ms: 150 }).action).toBe('hold');
    expect(g.tick({ now: 22_000, latencyP95Ms: 150 }).action).toBe('down');
  });

  it('ignores latency while settling after a change, then walks the ladder into frame-rate caps and stops at the floor', () => {
    const g = new Governor(cfg, { variants, fpsCaps: [10, 5], budgetMs: 100, settleMs: 3_000 });
    const d = run(g, 0, 120_000, { latencyP95Ms: 400 });
    const changes = d.filter((x) => x.changed);
    expect(changes.map((x) => [x.variant, x.fpsCap])).toEqual([
      ['int8', undefined],
      ['int8-small', undefined],
      ['int8-small', 10],
      ['int8-small', 5],
    ]);
    expect(changes[2]!.reason).toMatch(/^step down: frame-rate cap none -> 10 because/);
    // Between changes: the settle time plus overBudgetMs.
    const i1 = d.indexOf(changes[0]!);
    const i2 = d.indexOf(changes[1]!);
    expect((i2 - i1) * 500).toBe(13_000);
    expect(d[i1 + 1]!.reason).toMatch(/^settling after the last change/);
    expect(d.at(-1)!.reason).toMatch(/already at the lightest setting$/);
    expect(g.changes).toBe(4);
  });

  it('steps down at once when too hot, then waits thermalStepMs before the next thermal step', () => {
    const g = new Governor(cfg, { variants, budgetMs: 100, thermalStepMs: 15_000 });
    const d1 = g.tick({ now: 0, latencyP95Ms: 20, tempC: 81.2 });
    expect(d1).toMatchObject({ action: 'down', variant: 'int8' });
    expect(d1.reason).toBe('step down: variant fp32 -> int8 because SoC at 81.2 °C, at or above maxTempC 80 °C');
    const d2 = g.tick({ now: 5_000, latencyP95Ms: 20, tempC: 81 });
    expect(d2.action).toBe('hold');
    expect(d2.reason).toMatch(/waiting 10000 ms after the last step/);
    expect(g.tick({ now: 15_000, latencyP95Ms: 20, tempC: 81 }).variant).toBe('int8-small');
  });

  it('steps down when the board reports throttling even at a normal temperature', () => {
    const g = new Governor(cfg, { variants, budgetMs: 100 });
    const d = g.tick({ now: 0, latencyP95Ms: 20, tempC: 60, throttled: true });
    expect(d.action).toBe('down');
    expect(d.reason).toMatch(/the board reports throttling$/);
  });

  it('steps back up only below maxTempC - hysteresisC and comfortably under budget for upHoldMs', () => {
    const g = new Governor(cfg, { variants, budgetMs: 100, upHoldMs: 30_000, comfort: 0.7 });
    expect(g.tick({ now: 0, latencyP95Ms: 50, tempC: 85 }).action).toBe('down');
    // Cooled to 77 °C: under the limit but inside the 5 °C hysteresis band: no step up however long.
    const band = run(g, 1_000, 60_000, { latencyP95Ms: 50, tempC: 77 });
    expect(band.every((x) => x.action === 'hold')).toBe(true);
    expect(band.at(-1)!.reason).toBe('SoC at 77.0 °C: not below 75 °C (maxTempC - hysteresisC) yet');
    // Cool, but latency 80 ms is within budget and above the 70 ms comfort line: hold.
    const warm = g.tick({ now: 62_000, latencyP95Ms: 80, tempC: 70 });
    expect(warm.reason).toMatch(/not under 70.0 ms \(comfort line\)/);
    // Cool and comfortable: up after 30 s of it.
    const up = run(g, 63_000, 30_000, { latencyP95Ms: 40, tempC: 70 });
    expect(up.slice(0, -1).every((x) => x.action === 'hold')).toBe(true);
    expect(up.at(-1)).toMatchObject({ action: 'up', variant: 'fp32' });
    expect(up.at(-1)!.reason).toBe('step up: variant int8 -> fp32 because p95 latency 40.0 ms under 70.0 ms and SoC at 70.0 °C below 75 °C for 30000 ms');
    expect(g.tick({ now: 100_000, latencyP95Ms: 40, tempC: 70 }).reason).toBe('at the best setting and within budget');
  });

  it('does not step up into a variant the bench cache says is too slow', () => {
    const g = new Governor(cfg, { variants, budgetMs: 100, initialLevel: 1, expectedLatencyMs: [95, 40, 20], upHoldMs: 1_000 });
    const d = run(g, 0, 10_000, { latencyP95Ms: 40 });
    expect(d.every((x) => x.action === 'hold' && x.variant === 'int8')).toBe(true);
    expect(d.at(-1)!.reason).toBe('variant fp32 is expected at 95.0 ms p95, above the 70.0 ms comfort line');
  });

  it('removes frame-rate caps one by one before returning to heavier variants', () => {
    const g = new Governor(cfg, { variants: ['a', 'b'], fpsCaps: [10, 5], budgetMs: 100, initialLevel: 3, upHoldMs: 1_000 });
    expect(g.current()).toMatchObject({ variant: 'b', fpsCap: 5 });
    const d = run(g, 0, 14_000, { latencyP95Ms: 10 }).filter((x) => x.changed);
    expect(d.map((x) => [x.variant, x.fpsCap])).toEqual([
      ['b', 10],
      ['b', undefined],
      ['a', undefined],
    ]);
    expect(g.current().reason).toBe('at the best setting and within budget');
  });

  it('waits for latency samples before judging', () => {
    const g = new Governor(cfg, { variants, budgetMs: 100 });
    expect(g.tick({ now: 0 }).reason).toBe('no latency samples yet');
  });
});

describe('frame-rate cap', () => {
  it('admits frames at the cap rate from a faster camera, and everything without a cap', () => {
    const cap = new FrameRateCap();
    const at = (fps: number, n: number) => Array.from({ length: n }, (_, i) => ({ captureMono: i * (1000 / fps) + (i % 2 ? 3 : -3) }));
    expect(at(30, 30).filter((f) => cap.admit(f))).toHaveLength(30);
    cap.set(10);
    const admitted = at(30, 90).filter((f) => cap.admit(f)).length;
    expect(admitted).toBe(30);
    expect(cap.skipped).toBe(60);
    cap.set(undefined);
    expect(cap.admit({ captureMono: 1e6 })).toBe(true);
  });
});
