/**
 * Media time for a replay (`run --until-eof`): a file read as fast as the loop allows is judged on the clip's own
 * timestamps, not on when its frames happened to be read. The frame loop moves this clock to each frame's
 * presentation time (Frame.ptsMs) before that frame's rules run; simulated outputs are timed on it, so a pulse
 * due 700 ms after a frame is switched on when the replay reaches the frame 700 ms later in the clip, and never
 * waits for real time. Tracker, persistence and cooldowns already count in ptsMs; schedule windows, events'
 * times and the dry-run journal read this clock's wall time: the run's start plus media time.
 *
 * It is a Clock and the Timers the output safety core needs (in-process, not the output worker: a worker thread
 * cannot follow a clock driven by this thread's frames).
 */
import type { Clock } from '../types.js';
import type { TimerHandle, Timers } from '../actuators/timers.js';

interface Entry {
  at: number;
  seq: number;
  fn: () => void;
  every?: number;
  h: TimerHandle;
}

const done: Promise<void> = Promise.resolve();

export class MediaTime implements Clock, Timers {
  private mono = 0;
  private seq = 0;
  private entries: Entry[] = [];
  private advancing: Promise<void> = Promise.resolve();
  /** advanceTo() calls not finished yet. */
  private inFlight = 0;
  /** The latest media time reached (ms into the clip). */
  get reachedMs(): number {
    return this.mono;
  }

  /** `wallAtZero`: the wall-clock ms that media time 0 stands for (the run's start). */
  constructor(readonly wallAtZero: number) {}

  now(): number {
    return this.mono;
  }

  wall(): number {
    return this.wallAtZero + this.mono;
  }

  /** Wall-clock ms of a media time (events' `frame.ts`, schedule windows). */
  wallOf(mediaMs: number): number {
    return this.wallAtZero + mediaMs;
  }

  at(at: number, fn: () => void): TimerHandle {
    const h = { cancelled: false };
    this.entries.push({ at: Math.max(at, this.mono), seq: this.seq++, fn, h });
    return h;
  }

  every(ms: number, fn: () => void): TimerHandle {
    const h = { cancelled: false };
    this.entries.push({ at: this.mono + ms, seq: this.seq++, fn, every: ms, h });
    return h;
  }

  cancel(h: TimerHandle | undefined): void {
    if (h) h.cancelled = true;
  }

  /**
   * Moves media time forward to `ms` (never back), running every timer due on the way at its own time, in order.
   * Between timers the event loop turns once, so what a timer starts (a switch-on that then plans its off) is
   * in place before the next one. Calls are serialised.
   */
  advanceTo(ms: number): Promise<void> {
    // Most frames have no timer due before them: nothing to run or wait for (no chain, no filtered copy per frame).
    if (this.inFlight === 0 && !this.dueBy(ms)) {
      this.mono = Math.max(this.mono, ms);
      return done;
    }
    this.inFlight++;
    const run = this.advancing.then(() => this.step(ms));
    this.advancing = run.then(
      () => void this.inFlight--,
      () => void this.inFlight--,
    );
    return run;
  }

  private dueBy(ms: number): boolean {
    for (const e of this.entries) if (!e.h.cancelled && e.at <= ms) return true;
    return false;
  }

  /** Runs every one-shot timer still pending (pulses scheduled near the clip's end, their offs): the replay's end. */
  async drain(maxRounds = 10_000): Promise<void> {
    for (let i = 0; i < maxRounds; i++) {
      const pending = this.entries.filter((e) => !e.h.cancelled && e.every === undefined);
      if (!pending.length) return;
      await this.advanceTo(Math.max(...pending.map((e) => e.at)));
    }
  }

  /** One-shot timers not yet run (for tests and the end of a replay). */
  pending(): number {
    return this.entries.filter((e) => !e.h.cancelled && e.every === undefined).length;
  }

  private async step(target: number): Promise<void> {
    for (;;) {
      this.entries = this.entries.filter((e) => !e.h.cancelled);
      let next: Entry | undefined;
      for (const e of this.entries) if (e.at <= target && (!next || e.at < next.at || (e.at === next.at && e.seq < next.seq))) next = e;
      if (!next) break;
      this.mono = Math.max(this.mono, next.at);
      if (next.every) next.at += next.every;
      else this.entries = this.entries.filter((e) => e !== next);
      next.fn();
      await new Promise((r) => setImmediate(r));
    }
    this.mono = Math.max(this.mono, target);
  }
}
