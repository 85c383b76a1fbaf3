/**
 * The outputs as the run loop sees them. By default the safety core runs in a worker thread (./worker.ts) so that
 * output timing does not suffer from inference or GC on the main thread; with `threaded: false` (tests with a
 * fake clock, tools) it runs in-process. The API is the same either way.
 *
 *   const bank = new OutputBank(config.outputs, { log, stallMs: config.pipeline.stallMs, simulateJournal });
 *   await bank.start();                       // every output at its safe level
 *   installSafetyHooks(bank, log);            // signals, crashes -> safe
 *   bank.heartbeat();                         // once per frame
 *   await bank.pulse('gate', { dueMono: frame.captureMono + delayMs, widthMs, reason: 'rule defect' });
 *   await bank.hold('valve', { durationMs, reason: 'rule dry' });
 *   await bank.stop();
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { AgentError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { systemClock, type ActionOutcome, type Clock } from '../types.js';
import type { OutputConfig } from '../config/sections/outputs.js';
import type { DriverContext, PublishFn } from './actuator.js';
import type { ActuationReport } from './channel.js';
import { OutputCore, type BankStatus, type CoreOptions, type DriverFactory, type HoldRequest, type PulseRequest } from './core.js';
import { preciseTimers, type Timers } from './timers.js';
import { Shared, deserializeError, monoOffsetMs, type FromWorker, type ToWorker, type WorkerInit } from './protocol.js';

/**
 * A pulse asked for by a person (`actuate --pulse`, the status page's test button) is due this long after the
 * request: the bank runs in a worker, and a deadline a few ms away is "missed" when a busy CPU delays the message.
 * Nobody pressing a button notices a quarter second.
 */
export const MANUAL_PULSE_LEAD_MS = 250;

export type { ActuationReport, BankStatus, HoldRequest, PulseRequest };

export interface OutputBankOptions {
  log?: Logger;
  /** Replace every driver by the dry-run journal (run/actuate --simulate-outputs FILE). */
  simulateJournal?: string;
  /** Frame-loop stall deadline (pipeline.stallMs): no heartbeat for this long -> all outputs safe. Off when unset. */
  stallMs?: number;
  /**
   * SCHED_FIFO priority of the output worker thread (default 10; 0 = normal thread). Needs CAP_SYS_NICE or
   * LimitRTPRIO in the systemd unit; without it the thread stays normal and a warning is logged.
   */
  realtimePriority?: number;
  /** Run the safety core in a worker thread (default true, false when a clock or timers are injected). */
  threaded?: boolean;
  /** In-process only: fake clock and timers for tests. */
  clock?: Clock;
  timers?: Timers;
  /** In-process only: a different driver factory. */
  createDriver?: DriverFactory;
  /** Roots for the drivers (both modes); fake syscalls (in-process only). */
  driverContext?: Pick<DriverContext, 'devRoot' | 'sysRoot' | 'gpioSyscalls'>;
  /** How mqtt outputs publish (the agent's MQTT connection). */
  publish?: PublishFn;
  /** Fired pulses (with their timing error), offs, misses, refusals, stuck outputs. */
  onReport?: (r: ActuationReport) => void;
  /**
   * Where outputs with a daily budget or a minimum off-time of 1 s or more remember their on-time and last
   * switch-off across restarts (`<stateDir>/outputs`). Unset: limits start fresh at each start.
   */
  ledgerDir?: string;
  /** How long safeAllSync waits for the worker to confirm (ms). */
  safeSyncTimeoutMs?: number;
  /** In-process only: whether the wall clock may start a new budget day, and the boot clock (see CoreOptions). */
  wallTrust?: CoreOptions['wallTrust'];
  bootClock?: CoreOptions['bootClock'];
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

/** Where the compiled worker is: next to this module in dist/, or dist/ when running from the .ts sources (vitest). */
function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js')) return here.replace(/output-bank\.js$/, 'worker.js');
  const dist = here.replace(/\/agent\/actuators\/output-bank\.ts$/, '/dist/agent/actuators/worker.js');
  if (!existsSync(dist)) throw new AgentError('INTERNAL', `the output worker is not built (${dist})`, { fix: 'run `npm run build`' });
  return dist;
}

export class OutputBank {
  private readonly log: Logger;
  private readonly threaded: boolean;
  private core: OutputCore | undefined;
  private worker: Worker | undefined;
  private shared: Int32Array | undefined;
  private seq = 0;
  private readonly waits = new Map<number, Pending>();
  private dead: string | undefined;

  constructor(
    private readonly outputs: Record<string, OutputConfig>,
    private readonly opts: OutputBankOptions = {},
  ) {
    this.log = (opts.log ?? silentLogger).child({ component: 'outputs' });
    this.threaded = opts.threaded ?? !(opts.clock || opts.timers || opts.createDriver || opts.driverContext?.gpioSyscalls);
  }

  async start(): Promise<void> {
    if (!this.threaded) {
      const clock = this.opts.clock ?? systemClock;
      const { createActuator } = await import('../../drivers/gpio/registry.js');
      this.core = new OutputCore(this.outputs, {
        clock,
        timers: this.opts.timers ?? preciseTimers(clock),
        log: this.opts.log ?? silentLogger,
        simulateJournal: this.opts.simulateJournal,
        stallMs: this.opts.stallMs,
        ledgerDir: this.opts.ledgerDir,
        ...(this.opts.wallTrust ? { wallTrust: this.opts.wallTrust } : {}),
        ...(this.opts.bootClock !== undefined ? { bootClock: this.opts.bootClock } : {}),
        driverContext: { ...this.opts.driverContext, ...(this.opts.publish ? { publish: this.opts.publish } : {}) },
        createDriver: this.opts.createDriver ?? createActuator,
        report: this.opts.onReport,
      });
      await this.core.start();
      return;
    }
    const sab = new SharedArrayBuffer(8);
    this.shared = new Int32Array(sab);
    const parentLog = this.opts.log ?? silentLogger;
    const init: WorkerInit = {
      outputs: this.outputs,
      simulateJournal: this.opts.simulateJournal,
      stallMs: this.opts.stallMs,
      devRoot: this.opts.driverContext?.devRoot,
      sysRoot: this.opts.driverContext?.sysRoot,
      hasPublish: Boolean(this.opts.publish),
      ledgerDir: this.opts.ledgerDir,
      realtimePriority: this.opts.realtimePriority ?? 10,
      log: { level: parentLog.level, pretty: Boolean(process.stderr.isTTY) },
      mainOffsetMs: monoOffsetMs(),
      shared: sab,
    };
    const w = new Worker(workerFile(), { workerData: init, name: 'edge-agent-outputs' });
    this.worker = w;
    w.on('message', (m: FromWorker) => this.onMessage(m));
    w.on('error', (err) => {
      this.dead = `output worker crashed: ${err.message}`;
      this.log.fatal({ err }, 'the output worker crashed; outputs were driven safe and no output can be switched now');
      for (const p of this.waits.values()) p.reject(new AgentError('OUTPUT_FAILED', this.dead));
      this.waits.clear();
    });
    w.on('exit', () => {
      this.dead ??= 'output worker stopped';
    });
    try {
      await this.call({ op: 'start', id: 0 });
    } catch (err) {
      await w.terminate();
      this.worker = undefined;
      throw err;
    }
  }

  /** Everything safe, lines released, worker ended. */
  async stop(): Promise<void> {
    if (this.core) {
      await this.core.stop();
      this.core = undefined;
      return;
    }
    if (!this.worker) return;
    try {
      if (!this.dead) await this.call({ op: 'stop', id: 0 });
    } finally {
      await this.worker.terminate();
      this.worker = undefined;
    }
  }

  /** Schedules a pulse at req.dueMono (performance.now() ms of THIS thread). Outcome: scheduled, missed or refused. */
  async pulse(name: string, req: PulseRequest): Promise<ActionOutcome> {
    if (this.core) return this.core.pulse(name, req);
    if (this.dead) return { type: 'pulse', output: name, status: 'failed', detail: this.dead };
    return (await this.call({ op: 'pulse', id: 0, name, ...req })) as ActionOutcome;
  }

  /** On for req.durationMs. Outcome: on (maybe extended or limited, see detail), refused or failed. */
  async hold(name: string, req: HoldRequest): Promise<ActionOutcome> {
    if (this.core) return this.core.hold(name, req);
    if (this.dead) return { type: 'hold', output: name, status: 'failed', detail: this.dead };
    return (await this.call({ op: 'hold', id: 0, name, ...req })) as ActionOutcome;
  }

  /** Off now, cancelling scheduled pulses; false when the driver failed (the output is reported stuck). */
  async off(name: string, reason = 'off'): Promise<boolean> {
    if (this.core) return this.core.off(name, reason);
    return (await this.call({ op: 'off', id: 0, name, reason })) as boolean;
  }

  /** Once per frame from the pipeline. Cheap: one atomic increment, no message. */
  heartbeat(): void {
    if (this.core) this.core.heartbeat();
    else if (this.shared) Atomics.add(this.shared, Shared.beat, 1);
  }

  async status(): Promise<BankStatus> {
    if (this.core) return this.core.status();
    return (await this.call({ op: 'status', id: 0 })) as BankStatus;
  }

  /**
   * Crash and signal path: every output safe before this returns, without the event loop. In threaded mode the
   * worker is asked and this thread blocks (Atomics.wait) until it confirms or the timeout passes.
   * Returns true when every output confirmed its safe level.
   */
  safeAllSync(reason: string): boolean {
    if (this.core) return this.core.safeAllSync(reason);
    if (!this.worker) return true; // not started, or stopped: the lines were released safe
    if (!this.shared || this.dead) return false;
    Atomics.store(this.shared, Shared.safeAck, 0);
    this.worker.postMessage({ op: 'safe-all', reason } satisfies ToWorker);
    const res = Atomics.wait(this.shared, Shared.safeAck, 0, this.opts.safeSyncTimeoutMs ?? 1_000);
    const ok = res !== 'timed-out';
    if (!ok) this.log.error({ reason }, 'OUTPUTS MAY BE ON: the output worker did not confirm the safe level in time');
    return ok;
  }

  private call(m: ToWorker & { id: number }): Promise<unknown> {
    if (!this.worker) return Promise.reject(new AgentError('OUTPUT_FAILED', 'outputs not started'));
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      this.waits.set(id, { resolve, reject });
      this.worker!.postMessage({ ...m, id });
    });
  }

  private onMessage(m: FromWorker): void {
    if (m.op === 'reply') {
      const p = this.waits.get(m.id);
      this.waits.delete(m.id);
      if (m.error) p?.reject(deserializeError(m.error));
      else p?.resolve(m.value);
    } else if (m.op === 'report') {
      this.opts.onReport?.(m.report);
    } else if (m.op === 'publish') {
      const publish = this.opts.publish;
      const done = (error?: string): void => this.worker?.postMessage({ op: 'published', id: m.id, error } satisfies ToWorker);
      if (!publish) done('no publish function');
      else publish(m.topic, m.payload, { qos: m.qos, retain: m.retain }).then(() => done(), (err: unknown) => done(err instanceof Error ? err.message : String(err)));
    }
  }
}
