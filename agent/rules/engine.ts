import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import type { AnomalyRuleConfig, RuleConfig } from '../config/sections/rules.js';
import type { TrackedDetection } from '../types.js';
import { inSchedule } from './schedule.js';
import { boxInZone } from './zone.js';

/** A rule that decided to act on this frame. */
export interface Firing {
  rule: RuleConfig;
  label: string;
  score: number;
  bbox: [number, number, number, number];
  trackId: number | null;
  /** Objects counted (count and absence rules). */
  count?: number;
  thresholds: Record<string, number>;
}

export interface FrameFacts {
  /** Media time of the frame (Frame.ptsMs). */
  ptsMs: number;
  /** Wall-clock time, for schedules. */
  wallMs: number;
  detections: readonly TrackedDetection[];
  /** Tracks that ended before this frame. */
  endedTracks: readonly number[];
}

interface Evaluator {
  readonly rule: RuleConfig;
  evaluate(f: FrameFacts): Firing[];
}

/**
 * Turns tracked detections into firings. A rule's only state is persistence, cooldown and per-track memory;
 * safety limits belong to the actuators. Each rule runs inside a fault boundary: a failing rule is logged and
 * counted, the others go on.
 */
export class RuleEngine {
  private readonly evaluators: Evaluator[];
  readonly errors = new Map<string, number>();
  private readonly log: Logger;

  constructor(rules: readonly RuleConfig[], log: Logger = silentLogger) {
    this.log = log.child({ component: 'rules' });
    this.evaluators = rules.map((r) => (r.type === 'anomaly' ? new AnomalyEvaluator(r) : new CountEvaluator(r)));
  }

  evaluate(f: FrameFacts): Firing[] {
    const out: Firing[] = [];
    for (const e of this.evaluators) {
      try {
        out.push(...e.evaluate(f));
      } catch (err) {
        this.errors.set(e.rule.name, (this.errors.get(e.rule.name) ?? 0) + 1);
        this.log.error({ err, rule: e.rule.name }, 'rule failed; skipping it for this frame');
      }
    }
    return out;
  }
}

interface TrackMemory {
  window: Uint8Array;
  idx: number;
  filled: number;
  hits: number;
  fired: boolean;
  lastSeenMs: number;
}

/** Label at or above its score, in the zone, in N of the last M frames of one track. */
class AnomalyEvaluator implements Evaluator {
  private readonly mem = new Map<number, TrackMemory>();
  private lastFireMs = -Infinity;

  constructor(readonly rule: AnomalyRuleConfig) {}

  evaluate(f: FrameFacts): Firing[] {
    const r = this.rule;
    for (const id of f.endedTracks) this.mem.delete(id);
    const seen = new Set<number>();
    const out: Firing[] = [];
    for (const d of f.detections) {
      seen.add(d.trackId);
      const min = r.labels[d.label];
      const hit = min !== undefined && d.score >= min && boxInZone(d.box, r.zone);
      const m = this.memory(d.trackId);
      push(m, hit, r.persistence.m);
      m.lastSeenMs = f.ptsMs;
      if (!hit || m.hits < r.persistence.n) continue;
      if (r.perTrack && m.fired) continue;
      if (f.ptsMs - this.lastFireMs < r.cooldownMs) continue;
      if (!inSchedule(r.schedule, f.wallMs)) continue;
      m.fired = true;
      this.lastFireMs = f.ptsMs;
      out.push({ rule: r, label: d.label, score: d.score, bbox: d.box, trackId: d.trackId, thresholds: { ...r.labels } });
    }
    // Tracks not seen in this frame count a miss, so "N of the last M frames" means frames, not sightings.
    for (const [id, m] of this.mem) if (!seen.has(id)) push(m, false, r.persistence.m);
    return out;
  }

  private memory(id: number): TrackMemory {
    let m = this.mem.get(id);
    if (!m) {
      m = { window: new Uint8Array(this.rule.persistence.m), idx: 0, filled: 0, hits: 0, fired: false, lastSeenMs: 0 };
      this.mem.set(id, m);
    }
    return m;
  }
}

function push(m: TrackMemory, hit: boolean, size: number): void {
  if (m.filled === size) m.hits -= m.window[m.idx]!;
  else m.filled++;
  m.window[m.idx] = hit ? 1 : 0;
  m.hits += hit ? 1 : 0;
  m.idx = (m.idx + 1) % size;
}

type CountLike = Extract<RuleConfig, { type: 'count' | 'absence' }>;

/** Fewer/more than K objects of a label (count), or none (absence), held for forMs; fires once per episode. */
class CountEvaluator implements Evaluator {
  private sinceMs: number | undefined;
  private active = false;
  private lastFireMs = -Infinity;

  constructor(readonly rule: CountLike) {}

  evaluate(f: FrameFacts): Firing[] {
    const r = this.rule;
    let n = 0;
    let best: TrackedDetection | undefined;
    for (const d of f.detections) {
      if (d.label === r.label && d.score >= r.minScore && boxInZone(d.box, r.zone)) {
        n++;
        if (!best || d.score > best.score) best = d;
      }
    }
    const cond = r.type === 'absence' ? n === 0 : r.op === 'lt' ? n < r.count : n > r.count;
    if (!cond) {
      this.sinceMs = undefined;
      this.active = false;
      return [];
    }
    this.sinceMs ??= f.ptsMs;
    if (this.active || f.ptsMs - this.sinceMs < r.forMs) return [];
    if (f.ptsMs - this.lastFireMs < r.cooldownMs) return [];
    if (!inSchedule(r.schedule, f.wallMs)) return [];
    this.active = true;
    this.lastFireMs = f.ptsMs;
    const bbox = best?.box ?? zoneBox(r.zone?.polygon);
    return [{ rule: r, label: r.label, score: best?.score ?? 0, bbox, trackId: null, count: n, thresholds: { [r.label]: r.minScore } }];
  }
}

function zoneBox(poly: ReadonlyArray<readonly [number, number]> | undefined): [number, number, number, number] {
  if (!poly) return [0, 0, 1, 1];
  const xs = poly.map((p) => p[0]);
  const ys = poly.map((p) => p[1]);
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}
