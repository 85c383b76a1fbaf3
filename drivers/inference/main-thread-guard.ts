import { readFileSync } from 'node:fs';
import type { Logger } from '../../agent/log.js';
import { keepMainThreadOff, releaseMainThread } from './affinity.js';

export interface GuardThresholds {
  /** The pinned inference thread's busy share at or above which the main thread is kept off its CPU. */
  keepOffAt: number;
  /** ... and below which it may come back (the gap keeps the decision from flapping around one figure). */
  letBackBelow: number;
  /** How often the busy share is read, ms. */
  everyMs: number;
}

export const DEFAULT_THRESHOLDS: GuardThresholds = { keepOffAt: 0.85, letBackBelow: 0.7, everyMs: 1000 };

/**
 * Whether the main thread should be kept off the inference thread's CPU, from the inference thread's busy share over
 * the last period. Keeping it off helps only while inference is the slowest stage: each answer the inference thread
 * posts wakes the frame loop's thread, the kernel tends to wake it on the waker's CPU, and there it preempts the
 * inference (measured on the 2-vCPU development VM with the fp32 demo model, worker busy about 94 %: the worker's
 * post of an answer took 0.16 ms of each 3.3 ms frame, 0.025 ms with the loop thread kept off, and the loop ran 3 %
 * faster in six of six pairs of runs on a quiet host). When decoding is the slowest stage (the int8 model, worker
 * busy about 50 %), the loop thread is better off free to use that CPU's idle time: kept off it always, one camera
 * read in full ran at 327 and 283 fps against 353 and 384 in two pairs of runs.
 */
export function keepOff(busy: number, held: boolean, t: GuardThresholds = DEFAULT_THRESHOLDS): boolean {
  return held ? busy >= t.letBackBelow : busy >= t.keepOffAt;
}

/**
 * Time a thread of this process has run, ms: the first field of /proc/self/task/TID/schedstat, in nanoseconds
 * (Documentation/scheduler/sched-stats.rst, "time spent on the cpu"; present with CONFIG_SCHED_INFO, as in Debian's
 * and Raspberry Pi OS's kernels). Undefined when it cannot be read (the thread has exited, no such file).
 */
export function threadRunMs(tid: number): number | undefined {
  try {
    const ns = Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    return Number.isFinite(ns) ? ns / 1e6 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Watches a pinned inference thread and keeps the main thread off its CPU while it is the bottleneck (keepOff()).
 * Constructed with what it reads; start() arms a timer that does not keep the process alive; stop() gives the CPU
 * back. check() is the timer's work, callable directly (tests).
 */
export class MainThreadGuard {
  private timer: NodeJS.Timeout | undefined;
  private last: { runMs: number; at: number } | undefined;
  private held = false;
  private told = false;

  constructor(
    private readonly cpu: number,
    private readonly log: Logger,
    private readonly runMs: () => number | undefined,
    private readonly t: GuardThresholds = DEFAULT_THRESHOLDS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  start(): void {
    const r = this.runMs();
    this.last = r === undefined ? undefined : { runMs: r, at: this.now() };
    this.timer = setInterval(() => this.check(), this.t.everyMs);
    this.timer.unref();
  }

  /** Whether the main thread is kept off the CPU now. */
  holding(): boolean {
    return this.held;
  }

  check(): void {
    const r = this.runMs();
    const at = this.now();
    const prev = this.last;
    this.last = r === undefined ? undefined : { runMs: r, at };
    if (r === undefined || !prev || at <= prev.at) return;
    const busy = (r - prev.runMs) / (at - prev.at);
    const want = keepOff(busy, this.held, this.t);
    if (want === this.held) return;
    if (want) {
      const why = keepMainThreadOff(this, this.cpu);
      if (why) {
        if (!this.told) this.log.info({ cpu: this.cpu, reason: why }, `the main thread may still run on the inference thread's CPU ${this.cpu}: ${why}`);
        this.told = true;
        return;
      }
      this.held = true;
    } else {
      releaseMainThread(this);
      this.held = false;
    }
    const line = `${this.held ? 'main thread kept off' : 'main thread may use'} the inference thread's CPU ${this.cpu} (inference busy ${Math.round(busy * 100)} % of the last ${Math.round(at - prev.at)} ms)`;
    if (this.told) this.log.debug({ cpu: this.cpu, busy }, line);
    else this.log.info({ cpu: this.cpu, busy }, line);
    this.told = true;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    releaseMainThread(this);
    this.held = false;
  }
}
