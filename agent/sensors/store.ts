/**
 * The latest reading of every sensor, with its timestamp. A reading older than its sensor's maximum age is
 * "stale": reported as unknown, never as its last value, so a sensor with a flat battery cannot keep a zone
 * looking dry (or wet) forever. The clock is injected (tests step it; the agent passes Date.now).
 */
import type { SensorsConfig } from '../config/sections/sensors.js';
import type { SensorSink } from '../ports.js';

export interface SensorReading {
  value: number;
  /** When the value was measured (the payload's timestamp when it has one), epoch ms. */
  atMs: number;
}

export type SensorState =
  | { state: 'fresh'; value: number; atMs: number; ageMs: number }
  | { state: 'stale'; lastValue: number; atMs: number; ageMs: number }
  | { state: 'unknown' };

export interface SensorStoreOptions {
  /** Default maximum age of a reading, ms. */
  maxAgeMs: number;
  /** Per-sensor maximum age, ms (a rain gauge that reports hourly needs more than a soil probe every minute). */
  maxAgeMsBySensor?: Record<string, number>;
  now?: () => number;
}

export type SensorListener = (name: string, reading: SensorReading) => void;

export class SensorStore implements SensorSink {
  private readonly latest = new Map<string, SensorReading>();
  private readonly listeners = new Set<SensorListener>();
  private readonly now: () => number;
  /** Readings refused (not a finite number, or older than the one held). */
  rejected = 0;

  constructor(private readonly opts: SensorStoreOptions) {
    this.now = opts.now ?? Date.now;
  }

  /**
   * Records a reading. An out-of-order reading (older than the one held, e.g. a retained MQTT message replayed
   * after a newer one) is ignored; a timestamp in the future (a gateway's clock ahead of ours) is taken as now.
   */
  update(name: string, value: number, atMs?: number): boolean {
    if (!Number.isFinite(value)) {
      this.rejected++;
      return false;
    }
    const now = this.now();
    const at = atMs === undefined || !Number.isFinite(atMs) ? now : Math.min(atMs, now);
    const prev = this.latest.get(name);
    if (prev && prev.atMs > at) {
      this.rejected++;
      return false;
    }
    const reading = { value, atMs: at };
    this.latest.set(name, reading);
    for (const l of this.listeners) {
      try {
        l(name, reading);
      } catch {
        /* a listener's failure is its own; the store keeps the reading */
      }
    }
    return true;
  }

  maxAgeMs(name: string): number {
    return this.opts.maxAgeMsBySensor?.[name] ?? this.opts.maxAgeMs;
  }

  get(name: string): SensorState {
    const r = this.latest.get(name);
    if (!r) return { state: 'unknown' };
    const ageMs = this.now() - r.atMs;
    if (ageMs > this.maxAgeMs(name)) return { state: 'stale', lastValue: r.value, atMs: r.atMs, ageMs };
    return { state: 'fresh', value: r.value, atMs: r.atMs, ageMs };
  }

  /** The value if fresh, otherwise undefined (unknown). */
  value(name: string): number | undefined {
    const s = this.get(name);
    return s.state === 'fresh' ? s.value : undefined;
  }

  /** Names of sensors whose last reading is stale (for /healthz and the MQTT status). */
  stale(names: Iterable<string>): string[] {
    const out: string[] = [];
    for (const n of names) if (this.get(n).state !== 'fresh') out.push(n);
    return out;
  }

  onReading(l: SensorListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
}

/** The store for a sensors config: its default maximum age, and each sensor's own where it sets one. */
export function sensorStoreFor(cfg: SensorsConfig, now?: () => number): SensorStore {
  const per: Record<string, number> = {};
  for (const [n, s] of Object.entries(cfg.inputs)) if (s.maxAgeS !== undefined) per[n] = s.maxAgeS * 1000;
  return new SensorStore({ maxAgeMs: cfg.maxAgeS * 1000, maxAgeMsBySensor: per, now });
}
