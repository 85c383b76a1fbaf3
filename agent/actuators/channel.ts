/**
 * The safety layer for one output. Rules ask; this decides. Limits enforced here, whatever the caller does:
 * maximum on-time (a guard timer independent of the frame loop), minimum off-time between activations, a daily
 * on-time budget (local calendar day, moved forward only by a synchronised wall clock or 24 h of monotonic time),
 * no late pulses (a pulse whose deadline has passed is reported as missed),
 * and an output that cannot be switched off is retried forever and reported loudly.
 */
import type { Logger } from '../log.js';
import type { ActionOutcome, Clock } from '../types.js';
import type { OutputConfig } from '../config/sections/outputs.js';
import type { Actuator } from './actuator.js';
import type { OutputLedger } from './ledger.js';
import { localDay, type TimerHandle, type Timers } from './timers.js';
import { alwaysTrusted, type BootClock, type WallTrust } from '../trusted-time.js';

const DAY_MS = 86_400_000;

export type ReportKind = 'fired' | 'off' | 'missed' | 'refused' | 'failed' | 'stuck' | 'recovered';

/** Something that happened to an output after the call returned (a scheduled pulse firing, a forced off...). */
export interface ActuationReport {
  output: string;
  kind: ReportKind;
  reason: string;
  /** When it happened, monotonic ms on the caller's clock. */
  atMono: number;
  /** For pulses: when it was due, and actual minus due. */
  dueMono?: number;
  errorMs?: number;
  widthMs?: number;
  detail?: string;
}

export interface OutputCounters {
  actuations: number;
  missed: number;
  refused: number;
  failures: number;
}

export interface OutputStatus extends OutputCounters {
  output: string;
  driver: string;
  /** Logical level we last drove (true = active), or "stuck" when switching off failed. */
  level: 'active' | 'inactive' | 'stuck';
  pendingPulses: number;
  onTodayMs: number;
}

export interface ChannelEnv {
  clock: Clock;
  timers: Timers;
  log: Logger;
  report: (r: ActuationReport) => void;
  /** Why activations are refused right now (frame loop stalled, shutting down), or undefined. */
  blocked: () => string | undefined;
  /** Remembers the daily on-time and the last switch-off across restarts (./ledger.ts), when the limits need it. */
  ledger?: OutputLedger;
  /**
   * Whether the wall clock may move the budget's day forward (../trusted-time.ts). Until it is trusted the
   * stricter reading holds: the day changes only after 24 h of monotonic time. Default: trusted (tests).
   */
  trust?: WallTrust;
  /** CLOCK_MONOTONIC since boot + boot id, for ledger stamps that survive a restart (absent: wall clock only). */
  boot?: BootClock;
}

interface PendingPulse {
  due: number;
  width: number;
  reason: string;
  /** Intended time in the clip (media ms), when the pulse came from a frame. */
  mediaMs?: number;
  timer: TimerHandle;
}

/** A guard fires this long after maxOnMs if the planned off has not happened (it should never be needed). */
const guardSlackMs = 2;
/**
 * Pulses on one output closer than this are refused even with minOffMs 0: the first one's switch-off is timed from
 * its actual (possibly slightly late) switch-on, so a back-to-back second pulse would find the output still on.
 */
const minPulseGapMs = 5;
const retryFirstMs = 100;
const retryMaxMs = 5_000;

export class OutputChannel {
  private active = false;
  private activeSince = 0;
  private activeKind: 'pulse' | 'hold' | undefined;
  private offAt = 0;
  private offTimer: TimerHandle | undefined;
  private guardTimer: TimerHandle | undefined;
  private retryTimer: TimerHandle | undefined;
  private retryMs = retryFirstMs;
  private lastOff = Number.NEGATIVE_INFINITY;
  private lastOffWall: number | undefined;
  private pending: PendingPulse[] = [];
  private stuck = false;
  private switching: Promise<boolean> | undefined;
  private day = '';
  /** When the budget's day began, monotonic ms on env.clock. */
  private dayStartMono = 0;
  private onDayMs = 0;
  private readonly trust: WallTrust;
  private readonly counters: OutputCounters = { actuations: 0, missed: 0, refused: 0, failures: 0 };
  private readonly log: Logger;

  constructor(
    readonly name: string,
    private readonly cfg: OutputConfig,
    readonly driver: Actuator,
    private readonly env: ChannelEnv,
  ) {
    this.log = env.log.child({ output: name });
    this.trust = env.trust ?? alwaysTrusted;
  }

  /**
   * Takes over what the ledger remembers from before a restart: today's on-time, the last switch-off (minimum
   * off-time), and an activation that was still running when the agent went down, counted as on until now
   * (the line may have stayed on until this start drove it safe).
   */
  restore(): void {
    const rec = this.env.ledger?.load();
    if (!rec) return;
    const wall = this.env.clock.wall();
    const now = this.env.clock.now();
    // Within the same boot, CLOCK_MONOTONIC stamps say how long ago things happened, whatever the wall clock did.
    const boot = this.env.boot;
    const sameBoot = boot !== undefined && rec.bootId !== undefined && rec.bootId === boot.bootId();
    const ago = (mono: number | undefined, wallStamp: number | undefined): number | undefined => {
      if (sameBoot && mono !== undefined) return Math.max(0, boot.monoMs() - mono);
      return wallStamp === undefined ? undefined : Math.max(0, wall - wallStamp);
    };
    const wallDay = localDay(wall);
    this.day = rec.day;
    this.onDayMs = rec.onMs;
    this.dayStartMono = sameBoot && rec.dayStartMono !== undefined ? now - Math.max(0, boot.monoMs() - rec.dayStartMono) : now;
    this.lastOffWall = rec.lastOffWall;
    if (rec.onSinceWall !== undefined || rec.onSinceMono !== undefined) {
      const onMs = ago(rec.onSinceMono, rec.onSinceWall) ?? 0;
      this.onDayMs += onMs;
      this.lastOffWall = wall;
      this.log.warn({ onSince: rec.onSinceWall !== undefined ? new Date(rec.onSinceWall).toISOString() : undefined, countedS: Math.round(onMs / 1000) }, 'output was on when the agent last stopped: that time counts against today\'s budget');
    }
    // The day moves forward only; a clock that is not synchronised cannot start a new budget (stricter reading).
    if (!this.trust.trusted() && wallDay !== rec.day) {
      this.log.warn({ ledgerDay: rec.day, wallDay, clock: this.trust.describe() }, 'wall clock not synchronised: the daily budget keeps counting the ledger\'s day until it is (or 24 h have passed)');
    }
    this.rollDay();
    const offAgo = rec.onSinceWall !== undefined || rec.onSinceMono !== undefined ? 0 : ago(rec.lastOffMono, this.lastOffWall);
    if (offAgo !== undefined) this.lastOff = now - offAgo;
    this.log.info({ onTodayS: Math.round(this.onDayMs / 1000), dailyMaxOnS: this.cfg.dailyMaxOnS, lastOff: this.lastOffWall ? new Date(this.lastOffWall).toISOString() : undefined, sameBoot }, 'output limits restored from the ledger');
    this.persist();
  }

  // ---- requests -------------------------------------------------------------------------------------------

  /** Schedules a pulse at `due` (monotonic ms) for widthMs. Never fires late: a past deadline is `missed`. */
  pulse(due: number, widthMs: number, reason: string, mediaMs?: number): ActionOutcome {
    const now = this.env.clock.now();
    const out = (status: 'scheduled' | 'missed' | 'refused', detail?: string): ActionOutcome => {
      if (status === 'missed') this.count('missed', { kind: 'missed', reason, dueMono: due, widthMs, detail });
      if (status === 'refused') this.count('refused', { kind: 'refused', reason, dueMono: due, widthMs, detail });
      return { type: 'pulse', output: this.name, status, dueMono: due, widthMs, ...(detail ? { detail } : {}) };
    };
    if (widthMs > this.cfg.maxOnMs) return out('refused', `pulse of ${widthMs} ms exceeds maxOnMs ${this.cfg.maxOnMs}`);
    const blocked = this.whyBlocked();
    if (blocked) return out('refused', blocked);
    if (due < now) return out('missed', `deadline passed ${(now - due).toFixed(1)} ms before the request`);
    const gap = Math.max(this.cfg.minOffMs, minPulseGapMs);
    for (const p of this.pending) {
      if (due < p.due + p.width + gap && p.due < due + widthMs + gap) {
        return out('refused', `overlaps a pulse due in ${(p.due - now).toFixed(0)} ms (width ${p.width} ms, minOffMs ${gap})`);
      }
    }
    if (this.active && due < this.offAt + gap) return out('refused', `output is on until ${(this.offAt - now).toFixed(0)} ms from now (minOffMs ${gap})`);
    if (!this.active && due < this.lastOff + gap) return out('refused', `minOffMs ${gap}: off only ${(due - this.lastOff).toFixed(0)} ms at the deadline`);
    const left = this.budgetLeftMs();
    if (left < widthMs) return out('refused', `daily on-time budget (dailyMaxOnS ${this.cfg.dailyMaxOnS}) has ${Math.max(0, left / 1000).toFixed(1)} s left`);
    const p: PendingPulse = { due, width: widthMs, reason, ...(mediaMs !== undefined ? { mediaMs } : {}), timer: { cancelled: true } };
    p.timer = this.env.timers.at(due, () => this.firePulse(p));
    this.pending.push(p);
    return out('scheduled');
  }

  /** On now for durationMs (an irrigation valve, a pump). Extends a running hold, never past maxOnMs. */
  async hold(durationMs: number, reason: string): Promise<ActionOutcome> {
    const out = (status: 'on' | 'refused' | 'failed', detail?: string, d = durationMs): ActionOutcome => {
      if (status === 'refused') this.count('refused', { kind: 'refused', reason, detail });
      return { type: 'hold', output: this.name, status, durationMs: d, ...(detail ? { detail } : {}) };
    };
    if (durationMs > this.cfg.maxOnMs) return out('refused', `hold of ${durationMs} ms exceeds maxOnMs ${this.cfg.maxOnMs}`);
    const blocked = this.whyBlocked();
    if (blocked) return out('refused', blocked);
    const now = this.env.clock.now();
    const budget = this.budgetLeftMs();
    if (this.active) {
      if (this.activeKind !== 'hold') return out('refused', 'output is busy with a pulse');
      const capAt = Math.min(this.activeSince + this.cfg.maxOnMs, now + budget);
      const end = Math.min(now + durationMs, capAt);
      if (end > this.offAt) this.planOff(end, reason);
      const capped = now + durationMs > capAt;
      return out('on', capped ? `extended, capped by ${capAt === this.activeSince + this.cfg.maxOnMs ? `maxOnMs ${this.cfg.maxOnMs}` : 'the daily budget'}` : 'extended', this.offAt - now);
    }
    if (now < this.lastOff + this.cfg.minOffMs) return out('refused', `minOffMs ${this.cfg.minOffMs}: wait ${(this.lastOff + this.cfg.minOffMs - now).toFixed(0)} ms`);
    const next = this.pending.find((p) => p.due < now + durationMs + this.cfg.minOffMs);
    if (next) return out('refused', `a pulse is scheduled in ${(next.due - now).toFixed(0)} ms`);
    if (budget <= 0) return out('refused', `daily on-time budget (dailyMaxOnS ${this.cfg.dailyMaxOnS}) used up`);
    const d = Math.min(durationMs, budget);
    const ok = await this.switchOn('hold', now, reason);
    if (!ok) return out('failed', 'the driver could not switch the output on');
    this.planOff(this.activeSince + d, reason);
    return out('on', d < durationMs ? `limited to ${d} ms by the daily budget` : undefined, d);
  }

  /** Off now, cancelling scheduled pulses. */
  async off(reason: string): Promise<boolean> {
    this.cancelPending(reason);
    if (this.active || this.stuck) return this.switchOff(reason);
    try {
      await this.driver.safe(reason);
      return true;
    } catch (err) {
      this.count('failures', { kind: 'failed', reason, detail: String(err) });
      this.log.error({ err }, 'writing the safe level failed');
      return false;
    }
  }

  /** Crash path: safe level synchronously, timers cancelled. Returns false when the driver cannot do it synchronously. */
  safeSync(reason: string): boolean {
    this.cancelPending(reason);
    this.env.timers.cancel(this.offTimer);
    this.env.timers.cancel(this.guardTimer);
    try {
      const done = this.driver.safeSync(reason);
      if (this.active) {
        this.account(this.env.clock.now());
        this.lastOff = this.env.clock.now();
        this.lastOffWall = this.env.clock.wall();
      }
      this.active = false;
      this.persist();
      return done;
    } catch (err) {
      this.log.error({ err }, 'OUTPUT MAY BE STUCK ON: writing the safe level on the way down failed');
      return false;
    }
  }

  status(): OutputStatus {
    this.rollDay();
    return {
      output: this.name,
      driver: this.driver.describe(),
      level: this.stuck ? 'stuck' : this.active ? 'active' : 'inactive',
      pendingPulses: this.pending.length,
      onTodayMs: Math.round(this.usedTodayMs()),
      ...this.counters,
    };
  }

  isActive(): boolean {
    return this.active || this.stuck;
  }

  // ---- internals ------------------------------------------------------------------------------------------

  private whyBlocked(): string | undefined {
    if (this.stuck) return 'output is stuck on (switching it off failed); see the error log';
    return this.env.blocked();
  }

  private count(what: keyof OutputCounters, r: Omit<ActuationReport, 'output' | 'atMono'>): void {
    this.counters[what]++;
    this.env.report({ output: this.name, atMono: this.env.clock.now(), ...r });
  }

  private firePulse(p: PendingPulse): void {
    this.pending = this.pending.filter((x) => x !== p);
    const blocked = this.whyBlocked();
    if (blocked || this.active) {
      this.count('refused', { kind: 'refused', reason: p.reason, dueMono: p.due, widthMs: p.width, detail: blocked ?? 'output already on at the deadline' });
      return;
    }
    // switchOn stamps the time and issues the write synchronously for the GPIO drivers.
    void this.switchOn('pulse', p.due, p.reason, p.mediaMs).then((ok) => {
      if (ok) this.planOff(this.activeSince + p.width, p.reason, p.mediaMs !== undefined ? p.mediaMs + p.width : undefined);
    });
  }

  private async switchOn(kind: 'pulse' | 'hold', due: number, reason: string, mediaMs?: number): Promise<boolean> {
    const t0 = this.env.clock.now();
    let written: Promise<void>;
    try {
      written = this.driver.write(true, reason, { dueWall: this.toWall(kind === 'pulse' ? due : t0, t0), ...(mediaMs !== undefined ? { mediaMs } : {}) });
    } catch (err) {
      written = Promise.reject(err);
    }
    // Marked active before the write settles: if it half-succeeded, the guard still switches it off.
    this.active = true;
    this.activeKind = kind;
    this.activeSince = t0;
    this.offAt = t0 + this.cfg.maxOnMs;
    this.env.timers.cancel(this.guardTimer);
    this.guardTimer = this.env.timers.at(t0 + this.cfg.maxOnMs + guardSlackMs, () => this.onGuard());
    // After the write is issued, so the ledger's fsync never delays a switch-on.
    this.persist();
    try {
      await written;
    } catch (err) {
      this.log.error({ err }, 'switching the output on failed');
      this.count('failures', { kind: 'failed', reason, dueMono: kind === 'pulse' ? due : undefined, detail: String(err) });
      await this.switchOff(`${reason}: on failed`);
      return false;
    }
    this.counters.actuations++;
    this.env.report({ output: this.name, kind: 'fired', reason, atMono: t0, ...(kind === 'pulse' ? { dueMono: due, errorMs: t0 - due } : {}) });
    return true;
  }

  private planOff(at: number, reason: string, mediaMs?: number): void {
    this.env.timers.cancel(this.offTimer);
    this.offAt = at;
    this.offTimer = this.env.timers.at(at, () => void this.switchOff(reason, at, mediaMs));
  }

  private onGuard(): void {
    if (!this.active) return;
    this.log.error({ maxOnMs: this.cfg.maxOnMs }, 'maximum on-time reached without a planned off: forcing the output off');
    void this.switchOff('max-on');
  }

  /** Wall-clock ms of a monotonic instant (`now`: the current monotonic time, read once by the caller). */
  private toWall(mono: number, now = this.env.clock.now()): number {
    return this.env.clock.wall() - (now - mono);
  }

  private switchOff(reason: string, plannedMono?: number, mediaMs?: number): Promise<boolean> {
    if (this.switching) return this.switching;
    this.env.timers.cancel(this.offTimer);
    this.env.timers.cancel(this.retryTimer);
    const p = (async () => {
      try {
        await this.driver.write(false, reason, plannedMono !== undefined ? { dueWall: this.toWall(plannedMono), ...(mediaMs !== undefined ? { mediaMs } : {}) } : undefined);
      } catch (err) {
        this.counters.failures++;
        const first = !this.stuck;
        this.stuck = true;
        // Loud on purpose: a relay that stays on can flood a field or burn a motor.
        this.log.error({ err, retryInMs: this.retryMs }, 'OUTPUT STUCK ON: switching the output off failed; retrying');
        if (first) this.env.report({ output: this.name, kind: 'stuck', reason, atMono: this.env.clock.now(), detail: String(err) });
        this.retryTimer = this.env.timers.at(this.env.clock.now() + this.retryMs, () => void this.switchOff(reason));
        this.retryMs = Math.min(this.retryMs * 2, retryMaxMs);
        return false;
      }
      const now = this.env.clock.now();
      if (this.active) this.account(now);
      this.active = false;
      this.activeKind = undefined;
      this.lastOff = now;
      this.lastOffWall = this.env.clock.wall();
      this.persist();
      this.env.timers.cancel(this.guardTimer);
      this.retryMs = retryFirstMs;
      if (this.stuck) {
        this.stuck = false;
        this.log.warn('output switched off after earlier failures');
        this.env.report({ output: this.name, kind: 'recovered', reason, atMono: now });
      }
      this.env.report({ output: this.name, kind: 'off', reason, atMono: now });
      return true;
    })();
    this.switching = p;
    void p.finally(() => {
      if (this.switching === p) this.switching = undefined;
    });
    return p;
  }

  /** Drops scheduled pulses (each reported as missed with the reason). */
  cancelPending(reason: string): void {
    for (const p of this.pending) {
      this.env.timers.cancel(p.timer);
      this.count('missed', { kind: 'missed', reason: p.reason, dueMono: p.due, widthMs: p.width, detail: `cancelled: ${reason}` });
    }
    this.pending = [];
  }

  /** Adds the running activation's on-time to its day. */
  private account(now: number): void {
    this.rollDay();
    this.onDayMs += now - this.activeSince;
    this.activeSince = now;
  }

  private persist(): void {
    if (!this.env.ledger) return;
    this.rollDay();
    const wall = this.env.clock.wall();
    const now = this.env.clock.now();
    const boot = this.env.boot;
    const bootId = boot?.bootId();
    // env.clock's monotonic ms -> CLOCK_MONOTONIC since boot (both monotonic; the offset is fixed within a run).
    const toBoot = boot && bootId ? (t: number) => Math.round(boot.monoMs() - (now - t)) : undefined;
    this.env.ledger.save({
      day: this.day,
      onMs: this.onDayMs,
      ...(this.lastOffWall !== undefined ? { lastOffWall: this.lastOffWall } : {}),
      ...(this.active ? { onSinceWall: wall - (now - this.activeSince) } : {}),
      ...(toBoot
        ? {
            bootId,
            dayStartMono: toBoot(this.dayStartMono),
            ...(Number.isFinite(this.lastOff) && this.lastOffWall !== undefined ? { lastOffMono: toBoot(this.lastOff) } : {}),
            ...(this.active ? { onSinceMono: toBoot(this.activeSince) } : {}),
          }
        : {}),
    });
  }

  /**
   * A new budget day begins when a synchronised wall clock shows a later local day than the current one, or
   * after 24 h of monotonic time whatever the wall clock says. A wall clock jumping back never resets the budget;
   * one jumping forward resets it only once it is trusted.
   */
  private rollDay(): void {
    const now = this.env.clock.now();
    const wallDay = localDay(this.env.clock.wall());
    if (!this.day) {
      this.day = wallDay;
      this.dayStartMono = now;
      return;
    }
    if (this.trust.trusted() ? wallDay > this.day : false) this.newDay(wallDay, now);
    else if (now - this.dayStartMono >= DAY_MS) this.newDay(wallDay > this.day ? wallDay : this.day, now);
  }

  private newDay(day: string, now: number): void {
    this.day = day;
    this.dayStartMono = now;
    this.onDayMs = 0;
  }

  private usedTodayMs(): number {
    return this.onDayMs + (this.active ? this.env.clock.now() - this.activeSince : 0);
  }

  private budgetLeftMs(): number {
    if (this.cfg.dailyMaxOnS === undefined) return Number.POSITIVE_INFINITY;
    this.rollDay();
    const reserved = this.pending.reduce((s, p) => s + p.width, 0);
    return this.cfg.dailyMaxOnS * 1000 - this.usedTodayMs() - reserved;
  }
}
