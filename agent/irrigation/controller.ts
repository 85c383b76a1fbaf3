/**
 * Irrigation: which zone's valve to open, when, and for how long. A zone waters when the camera has said "needs
 * water" for N frames in a row, and (when configured) its soil sensor reads below `belowPct`, and it is not
 * raining, inside its watering windows, past its cooldown and minimum off-time, within its own and the farm's
 * daily budget, and while fewer than `maxOpen` valves are open (they share a pump). The duration comes from the
 * deficit (target - reading) x secondsPerPct, clamped to [minOnS, maxOnS] and to what is left of the budgets.
 *
 * A sensor that is stale or silent does not count as dry: the zone falls back to the camera alone or to doing
 * nothing (irrigation.sensorFallback), with a warning when the fallback starts and when it ends.
 *
 * The valves are driven through the actuator layer (OutputBank.hold), which enforces each output's own max on-time,
 * min off-time and budget; this class adds the farm's rules on top and never bypasses them.
 */
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import type { ActionOutcome } from '../types.js';
import type { SensorStore } from '../sensors/store.js';
import type { IrrigationConfig, IrrigationZoneConfig } from './config.js';
import { cameraVerdict, type CameraDetection } from './camera.js';
import { inWindows, localTime } from './localtime.js';
import { WaterLedger } from './ledger.js';

/** The slice of the actuator API irrigation uses (OutputBank implements it). */
export interface ValvePort {
  hold(name: string, req: { durationMs: number; reason: string }): Promise<ActionOutcome>;
}

export interface IrrigationDeps {
  store: SensorStore;
  valves: ValvePort;
  /** Wall clock, epoch ms. */
  now?: () => number;
  /** Where the water ledger is kept (e.g. <stateDir>/irrigation.json); unset: in memory. */
  ledgerFile?: string;
  log?: Logger;
}

export interface SensorView {
  name: string;
  state: 'fresh' | 'stale' | 'unknown';
  value?: number;
}

export interface Decision {
  atMs: number;
  zone: string;
  valve: string;
  action: 'open' | 'skip';
  /** Why: what opened it, or what held it back. */
  reason: string;
  durationS?: number;
  cameraScore: number;
  cameraLabel?: string;
  sensor?: SensorView;
  rain?: SensorView;
}

export interface ZoneStatus {
  zone: string;
  open: boolean;
  usedS: number;
  /** Set while the zone runs on its fallback because a sensor is stale or silent. */
  fallback?: string;
}

interface ZoneRuntime {
  name: string;
  cfg: IrrigationZoneConfig;
  streak: number;
  openUntilMs: number;
  fallback: string | undefined;
}

export class IrrigationController {
  private readonly zones: ZoneRuntime[];
  private readonly now: () => number;
  private readonly log: Logger;
  private ledger!: WaterLedger;

  constructor(
    private readonly cfg: IrrigationConfig,
    private readonly deps: IrrigationDeps,
  ) {
    this.now = deps.now ?? Date.now;
    this.log = (deps.log ?? silentLogger).child({ component: 'irrigation' });
    this.zones = Object.entries(cfg.zones).map(([name, z]) => ({ name, cfg: z, streak: 0, openUntilMs: 0, fallback: undefined }));
  }

  /**
   * Loads the ledger. A zone the ledger shows as open was closed when the process stopped (outputs go safe on the
   * way down), so it is not re-opened: its water stays charged (we cannot know how much ran), and its minimum
   * off-time counts from now.
   */
  start(): void {
    const now = this.now();
    const today = localTime(now, this.cfg.timeZone).day;
    this.ledger = new WaterLedger(this.deps.ledgerFile, today);
    const { loaded, reset } = this.ledger.load(today);
    for (const z of this.zones) {
      const l = this.ledger.data.zones[z.name];
      if (l?.lastEndMs !== undefined && l.lastEndMs > now) {
        l.lastEndMs = now;
        this.log.warn({ zone: z.name }, 'zone was watering when the agent stopped; its valve is closed and the water stays counted');
      }
    }
    if (loaded) this.ledger.save();
    this.log.info({ day: today, farmUsedS: this.ledger.data.farmUsedS, loaded, newDay: reset }, 'irrigation ledger ready');
  }

  /** One frame's detections (normalised boxes) at wall time `atMs`: the valves opened and the waterings held back. */
  async step(detections: readonly CameraDetection[], atMs = this.now()): Promise<Decision[]> {
    const lt = localTime(atMs, this.cfg.timeZone);
    if (this.ledger.rollTo(lt.day)) {
      this.ledger.save();
      this.log.info({ day: lt.day }, 'new local day: water budgets start again');
    }
    const candidates: Array<{ z: ZoneRuntime; d: Decision; value: number | undefined }> = [];
    const out: Decision[] = [];
    for (const z of this.zones) {
      const v = cameraVerdict(z.cfg, detections);
      z.streak = v.hit ? z.streak + 1 : 0;
      if (atMs < z.openUntilMs || z.streak < z.cfg.camera.frames) continue;
      const d: Decision = { atMs, zone: z.name, valve: z.cfg.valve, action: 'skip', reason: '', cameraScore: round(v.score), cameraLabel: v.label };
      const blocked = this.sensorGate(z, d);
      if (blocked) {
        d.reason = blocked;
        out.push(d);
        continue;
      }
      const other = this.timeGate(z, atMs, lt);
      if (other) {
        d.reason = other;
        out.push(d);
        continue;
      }
      candidates.push({ z, d, value: d.sensor?.state === 'fresh' ? d.sensor.value : undefined });
    }
    // Driest first (lowest reading; camera-only zones after, by score), so the pump limit serves the neediest.
    candidates.sort((a, b) => (a.value ?? Infinity) - (b.value ?? Infinity) || b.d.cameraScore - a.d.cameraScore);
    for (const c of candidates) out.push(await this.tryOpen(c.z, c.d, c.value, atMs));
    return out;
  }

  /** Sensor and rain checks; a reason when they hold the zone back. */
  private sensorGate(z: ZoneRuntime, d: Decision): string | undefined {
    const fallback = this.cfg.sensorFallback;
    const missing: string[] = [];
    if (z.cfg.sensor !== undefined) {
      d.sensor = this.view(z.cfg.sensor);
      if (d.sensor.state === 'fresh') {
        if (d.sensor.value! >= z.cfg.belowPct) return `soil ${d.sensor.value}% is not below ${z.cfg.belowPct}%`;
      } else missing.push(z.cfg.sensor);
    }
    if (this.cfg.rain) {
      d.rain = this.view(this.cfg.rain.sensor);
      if (d.rain.state === 'fresh') {
        if (d.rain.value! > this.cfg.rain.above) return `raining (${this.cfg.rain.sensor} ${d.rain.value})`;
      } else missing.push(this.cfg.rain.sensor);
    }
    const note = missing.length ? `${missing.join(', ')} stale or silent` : undefined;
    if (note !== z.fallback) {
      if (note) this.log.warn({ zone: z.name, sensors: missing, fallback }, `sensor ${note}: zone ${fallback === 'none' ? 'will not water' : 'waters on the camera alone'}`);
      else this.log.info({ zone: z.name }, 'sensors report again: zone back to normal');
      z.fallback = note;
    }
    if (note && fallback === 'none') return `${note} (sensorFallback: none)`;
    return undefined;
  }

  private timeGate(z: ZoneRuntime, atMs: number, lt: ReturnType<typeof localTime>): string | undefined {
    if (!inWindows(z.cfg.schedule ?? this.cfg.schedule, lt)) return 'outside the watering windows';
    const l = this.ledger.zone(z.name);
    if (l.lastStartMs !== undefined && atMs - l.lastStartMs < z.cfg.cooldownS * 1000) return 'cooldown';
    if (l.lastEndMs !== undefined && atMs - l.lastEndMs < z.cfg.minOffS * 1000) return 'minimum off-time';
    return undefined;
  }

  private async tryOpen(z: ZoneRuntime, d: Decision, value: number | undefined, atMs: number): Promise<Decision> {
    const c = z.cfg;
    let seconds = value !== undefined ? (c.targetPct - value) * c.secondsPerPct : (c.cameraOnlyS ?? c.maxOnS / 2);
    seconds = Math.min(c.maxOnS, Math.max(c.minOnS, seconds));
    const l = this.ledger.zone(z.name);
    if (c.dailyMaxOnS !== undefined) {
      seconds = Math.min(seconds, c.dailyMaxOnS - l.usedS);
      if (seconds < c.minOnS) return { ...d, reason: `zone budget spent (${l.usedS} of ${c.dailyMaxOnS} s today)` };
    }
    if (this.cfg.dailyMaxOnS !== undefined) {
      seconds = Math.min(seconds, this.cfg.dailyMaxOnS - this.ledger.data.farmUsedS);
      if (seconds < c.minOnS) return { ...d, reason: `farm budget spent (${this.ledger.data.farmUsedS} of ${this.cfg.dailyMaxOnS} s today)` };
    }
    const open = this.zones.filter((o) => atMs < o.openUntilMs).length;
    if (open >= this.cfg.maxOpen) return { ...d, reason: `pump limit: ${open} of ${this.cfg.maxOpen} valves open` };
    seconds = Math.round(seconds);
    const why = `camera ${d.cameraLabel} ${d.cameraScore}${d.sensor ? `, ${d.sensor.name} ${d.sensor.state === 'fresh' ? `${d.sensor.value}%` : d.sensor.state}` : ''}`;
    // Persist first: the water is counted before the valve can open.
    this.ledger.charge(z.name, seconds, atMs);
    let outcome: ActionOutcome;
    try {
      outcome = await this.deps.valves.hold(c.valve, { durationMs: seconds * 1000, reason: `irrigation ${z.name}: ${why}` });
    } catch (err) {
      outcome = { type: 'hold', output: c.valve, status: 'failed', detail: err instanceof Error ? err.message : String(err) };
    }
    if (outcome.type !== 'hold' || outcome.status !== 'on') {
      this.ledger.refund(z.name, seconds, l.lastEndMs !== undefined && l.lastEndMs > atMs ? atMs : (l.lastEndMs ?? atMs));
      this.log.warn({ zone: z.name, valve: c.valve, outcome }, 'valve did not open');
      return { ...d, reason: `valve ${outcome.status}: ${'detail' in outcome ? (outcome.detail ?? '') : ''}` };
    }
    z.openUntilMs = atMs + seconds * 1000;
    z.streak = 0;
    this.log.info({ zone: z.name, valve: c.valve, seconds, cameraScore: d.cameraScore, sensor: d.sensor }, 'watering');
    return { ...d, action: 'open', durationS: seconds, reason: why };
  }

  private view(name: string): SensorView {
    const s = this.deps.store.get(name);
    if (s.state === 'fresh') return { name, state: 'fresh', value: round(s.value) };
    return { name, state: s.state };
  }

  /** Refunds the part of a watering that a clean stop cut short (the outputs close on stop). */
  stop(): void {
    const now = this.now();
    for (const z of this.zones) {
      if (now < z.openUntilMs) {
        this.ledger.refund(z.name, Math.floor((z.openUntilMs - now) / 1000), now);
        z.openUntilMs = now;
      }
    }
  }

  status(atMs = this.now()): { day: string; farmUsedS: number; zones: ZoneStatus[] } {
    return {
      day: this.ledger.data.day,
      farmUsedS: this.ledger.data.farmUsedS,
      zones: this.zones.map((z) => ({ zone: z.name, open: atMs < z.openUntilMs, usedS: this.ledger.zone(z.name).usedS, ...(z.fallback ? { fallback: z.fallback } : {}) })),
    };
  }
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}
