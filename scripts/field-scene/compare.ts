/**
 * How a farm day went against the field scene's truth: every opening checked against whether the zone needed
 * water then (dry and not raining), every watering window in which a zone needed water checked for an opening,
 * and the limits (per-zone and farm budgets, valves open at once) recomputed from what was done.
 */
import type { FieldTruth } from './truth.js';

export interface Opening {
  frame: number;
  zone: string;
  durationS: number;
  atMs: number;
}

export interface DayComparison {
  /** Openings when the zone did not need water: soil at least `margin` points above the level, or raining. */
  wetOrRain: Opening[];
  /** Openings within `margin` points above the level (the sensor's own noise), not counted as wrong. */
  borderline: Opening[];
  /**
   * [zone, first frame, last frame] of window spans in which the zone clearly needed water (dry by more than
   * `margin` points, not raining, N+1 frames running) and got none.
   */
  missed: Array<[string, number, number]>;
  /** Spans in which the zone needed water only within `margin` points of the level (the probe's noise) and got none. */
  borderlineMissed: Array<[string, number, number]>;
  /** Window spans in which a zone needed water, and how many got water. */
  neededSpans: number;
  wateredSpans: number;
  zoneSeconds: Record<string, number>;
  farmSeconds: number;
  maxOpenAtOnce: number;
}

export function compareDay(
  truth: FieldTruth,
  openings: readonly Opening[],
  opts: { inWindow: (frame: number) => boolean; belowPct: number; runFrames: number; margin?: number; zoneName: (id: number) => string },
): DayComparison {
  const margin = opts.margin ?? 2;
  const byName = new Map(truth.zones.map((z) => [opts.zoneName(z.id), z]));
  const wetOrRain: Opening[] = [];
  const borderline: Opening[] = [];
  for (const o of openings) {
    const z = byName.get(o.zone)!;
    if (z.needsWater[o.frame]) continue;
    if (truth.raining[o.frame] || z.moisture[o.frame]! >= opts.belowPct + margin) wetOrRain.push(o);
    else borderline.push(o);
  }
  // Window spans: maximal runs of frames inside the watering windows.
  const spans: Array<[number, number]> = [];
  for (let t = 0; t < truth.frames; t++) {
    if (!opts.inWindow(t)) continue;
    const last = spans.at(-1);
    if (last && last[1] === t - 1) last[1] = t;
    else spans.push([t, t]);
  }
  const missed: Array<[string, number, number]> = [];
  const borderlineMissed: Array<[string, number, number]> = [];
  let neededSpans = 0;
  let wateredSpans = 0;
  for (const z of truth.zones) {
    const name = opts.zoneName(z.id);
    for (const [a, b] of spans) {
      let run = 0;
      let clear = 0;
      let needed = false;
      let clearly = false;
      for (let t = a; t <= b; t++) {
        run = z.needsWater[t] ? run + 1 : 0;
        clear = z.needsWater[t] && z.moisture[t]! < opts.belowPct - margin ? clear + 1 : 0;
        if (run > opts.runFrames) needed = true;
        if (clear > opts.runFrames) clearly = true;
      }
      if (!needed) continue;
      const watered = openings.some((o) => o.zone === name && o.frame >= a && o.frame <= b);
      if (clearly) {
        neededSpans++;
        if (watered) wateredSpans++;
        else missed.push([name, a, b]);
      } else if (!watered) borderlineMissed.push([name, a, b]);
    }
  }
  const zoneSeconds: Record<string, number> = {};
  for (const o of openings) zoneSeconds[o.zone] = (zoneSeconds[o.zone] ?? 0) + o.durationS;
  const farmSeconds = Object.values(zoneSeconds).reduce((s, v) => s + v, 0);
  const edges = openings.flatMap((o) => [[o.atMs, 1] as const, [o.atMs + o.durationS * 1000, -1] as const]).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let open = 0;
  let maxOpenAtOnce = 0;
  for (const [, d] of edges) {
    open += d;
    maxOpenAtOnce = Math.max(maxOpenAtOnce, open);
  }
  return { wetOrRain, borderline, missed, borderlineMissed, neededSpans, wateredSpans, zoneSeconds, farmSeconds, maxOpenAtOnce };
}
