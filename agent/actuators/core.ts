/**
 * All configured outputs with their safety channels, the frame-loop stall watchdog and the drivers. Runs in the
 * output worker thread in production (./worker.ts) and in-process with a fake clock in tests; it does not know
 * which. Times are monotonic ms on the `clock` it is given.
 */
import { AgentError } from '../errors.js';
import type { Logger } from '../log.js';
import { systemClock, type ActionOutcome, type Clock } from '../types.js';
import { alwaysTrusted, systemBootClock, systemWallTrust, type BootClock, type WallTrust } from '../trusted-time.js';
import type { OutputConfig, OutputDriverConfig } from '../config/sections/outputs.js';
import type { Actuator, DriverContext } from './actuator.js';
import { OutputChannel, type ActuationReport, type OutputStatus } from './channel.js';
import type { TimerHandle, Timers } from './timers.js';
import { fileLedger, needsLedger } from './ledger.js';

export type DriverFactory = (cfg: OutputDriverConfig, ctx: DriverContext) => Promise<Actuator>;

export interface CoreOptions {
  clock: Clock;
  timers: Timers;
  log: Logger;
  /** Every output uses the dry-run driver, writing this journal (run/actuate --simulate-outputs FILE). */
  simulateJournal?: string;
  /** No heartbeat for this long (after the first one) -> every output safe until heartbeats resume. */
  stallMs?: number;
  /** Shared by every driver (roots, fake syscalls, MQTT publish). */
  driverContext?: Partial<Omit<DriverContext, 'output' | 'activeLow' | 'log'>>;
  createDriver: DriverFactory;
  report?: (r: ActuationReport) => void;
  /** Where outputs with daily budgets or long minimum off-times remember them across restarts (./ledger.ts). */
  ledgerDir?: string;
  /**
   * Whether the wall clock may start a new budget day (../trusted-time.ts). Default: the system's
   * synchronisation state with the system clock; "trusted" with an injected clock (tests).
   */
  wallTrust?: WallTrust;
  /** Boot id + CLOCK_MONOTONIC for ledger stamps. Default: the system's with the system clock; none (null) otherwise. */
  bootClock?: BootClock | null;
}

export interface BankStatus {
  stalled: boolean;
  shuttingDown: boolean;
  outputs: OutputStatus[];
}

export interface PulseRequest {
  /** When the output must go active, monotonic ms (capture time + conveyor travel time). */
  dueMono: number;
  widthMs: number;
  reason: string;
  /** The pulse's intended time in the clip (frame media time + delay), journaled by the dry-run driver. */
  mediaMs?: number;
}

export interface HoldRequest {
  durationMs: number;
  reason: string;
}

export class OutputCore {
  private readonly channels = new Map<string, OutputChannel>();
  private readonly log: Logger;
  private lastBeat: number | undefined;
  private stalled = false;
  private shuttingDown: string | undefined;
  private stallTimer: TimerHandle | undefined;
  private readonly trust: WallTrust;
  private readonly boot: BootClock | undefined;

  constructor(
    private readonly outputs: Record<string, OutputConfig>,
    private readonly opts: CoreOptions,
  ) {
    this.log = opts.log.child({ component: 'outputs' });
    const real = opts.clock === systemClock;
    this.trust = opts.wallTrust ?? (real ? systemWallTrust() : alwaysTrusted);
    this.boot = opts.bootClock === undefined ? (real ? systemBootClock : undefined) : (opts.bootClock ?? undefined);
  }

  /** Creates and starts every driver (each drives its safe level). On any failure the started ones are stopped. */
  async start(): Promise<void> {
    const started: OutputChannel[] = [];
    try {
      for (const [name, cfg] of Object.entries(this.outputs)) {
        const driverCfg: OutputDriverConfig = this.opts.simulateJournal ? { type: 'dry-run' } : cfg.driver;
        const ctx: DriverContext = {
          ...this.opts.driverContext,
          output: name,
          activeLow: cfg.activeLow,
          log: this.log.child({ output: name }),
          wall: () => this.opts.clock.wall(),
          ...(this.opts.simulateJournal ? { journal: this.opts.simulateJournal } : {}),
        };
        const driver = await this.opts.createDriver(driverCfg, ctx);
        await driver.start();
        const ch = new OutputChannel(name, cfg, driver, {
          clock: this.opts.clock,
          timers: this.opts.timers,
          log: this.log,
          report: (r) => this.onReport(r),
          blocked: () => this.shuttingDown ?? (this.stalled ? 'frame loop stalled: outputs held safe' : undefined),
          trust: this.trust,
          ...(this.boot ? { boot: this.boot } : {}),
          ...(this.opts.ledgerDir && needsLedger(cfg) ? { ledger: fileLedger(this.opts.ledgerDir, name, this.log.child({ output: name })) } : {}),
        });
        ch.restore();
        this.channels.set(name, ch);
        started.push(ch);
        this.log.info({ output: name, driver: driver.describe(), maxOnMs: cfg.maxOnMs, minOffMs: cfg.minOffMs, dailyMaxOnS: cfg.dailyMaxOnS }, 'output ready (safe level)');
      }
    } catch (err) {
      for (const ch of started.reverse()) await ch.driver.stop().catch(() => undefined);
      this.channels.clear();
      throw err;
    }
    if (this.opts.stallMs) {
      const every = Math.max(1, Math.min(250, this.opts.stallMs / 4));
      this.stallTimer = this.opts.timers.every(every, () => this.checkStall());
    }
  }

  /** Everything safe, drivers released (reverse order). */
  async stop(): Promise<void> {
    this.opts.timers.cancel(this.stallTimer);
    this.shuttingDown ??= 'shutting down';
    for (const ch of [...this.channels.values()].reverse()) {
      // Switch off through the channel (stuck handling), then the driver writes the safe level once more and releases.
      if (ch.isActive()) await ch.off('stop');
      else ch.cancelPending('stop');
      try {
        await ch.driver.stop();
      } catch (err) {
        this.log.error({ err, output: ch.name }, 'OUTPUT MAY BE ON: releasing the output at its safe level failed');
      }
    }
    this.channels.clear();
  }

  pulse(name: string, req: PulseRequest): ActionOutcome {
    const ch = this.channels.get(name);
    if (!ch) return { type: 'pulse', output: name, status: 'refused', detail: `no output named "${name}"` };
    return ch.pulse(req.dueMono, req.widthMs, req.reason, req.mediaMs);
  }

  async hold(name: string, req: HoldRequest): Promise<ActionOutcome> {
    const ch = this.channels.get(name);
    if (!ch) return { type: 'hold', output: name, status: 'refused', detail: `no output named "${name}"` };
    return ch.hold(req.durationMs, req.reason);
  }

  /** Off now (commissioning, operator). Throws for an unknown output. */
  async off(name: string, reason: string): Promise<boolean> {
    const ch = this.channels.get(name);
    if (!ch) throw new AgentError('USAGE', `no output named "${name}"`, { fix: `configured: ${[...this.channels.keys()].join(', ') || 'none'}` });
    return ch.off(reason);
  }

  /** Called once per frame by the pipeline. Resumes outputs after a stall. */
  heartbeat(): void {
    this.lastBeat = this.opts.clock.now();
    if (this.stalled) {
      this.stalled = false;
      this.log.warn('frame loop running again: outputs may be driven again');
    }
  }

  /** Crash/signal path: every output safe synchronously, and nothing may switch on again. */
  safeAllSync(reason: string): boolean {
    this.shuttingDown = `shutting down (${reason})`;
    this.opts.timers.cancel(this.stallTimer);
    let all = true;
    for (const ch of this.channels.values()) all = ch.safeSync(reason) && all;
    return all;
  }

  status(): BankStatus {
    return { stalled: this.stalled, shuttingDown: this.shuttingDown !== undefined, outputs: [...this.channels.values()].map((c) => c.status()) };
  }

  names(): string[] {
    return [...this.channels.keys()];
  }

  private checkStall(): void {
    if (this.stalled || this.lastBeat === undefined || this.shuttingDown) return;
    const since = this.opts.clock.now() - this.lastBeat;
    if (since < this.opts.stallMs!) return;
    this.stalled = true;
    this.log.error({ sinceMs: Math.round(since), stallMs: this.opts.stallMs }, 'frame loop stalled: driving every output safe');
    for (const ch of this.channels.values()) void ch.off('stall');
  }

  private onReport(r: ActuationReport): void {
    if (r.kind === 'missed' || r.kind === 'refused') this.log.warn({ output: r.output, reason: r.reason, detail: r.detail }, `actuation ${r.kind}`);
    else if (r.kind === 'fired' || r.kind === 'off') this.log.debug({ output: r.output, reason: r.reason, errorMs: r.errorMs }, `output ${r.kind === 'fired' ? 'on' : 'off'}`);
    this.opts.report?.(r);
  }
}
