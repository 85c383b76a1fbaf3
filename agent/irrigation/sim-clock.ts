/**
 * A simulated clock: simulated time that follows the clip (one frame = several minutes), with the timers
 * the OutputBank needs (valve off after its hold), so a day runs in seconds. Mono and wall advance together.
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

export class SimClock implements Clock, Timers {
  private mono = 0;
  private seq = 0;
  private entries: Entry[] = [];

  constructor(private readonly wallAtZero: number) {}

  now(): number {
    return this.mono;
  }

  wall(): number {
    return this.wallAtZero + this.mono;
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

  /** Moves to wall time `wallMs`, running every timer due on the way at its own time. */
  async advanceTo(wallMs: number): Promise<void> {
    const target = wallMs - this.wallAtZero;
    for (;;) {
      this.entries = this.entries.filter((e) => !e.h.cancelled);
      const next = this.entries.filter((e) => e.at <= target).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!next) break;
      this.mono = next.at;
      if (next.every) next.at += next.every;
      else this.entries = this.entries.filter((e) => e !== next);
      next.fn();
      await new Promise((r) => setImmediate(r));
    }
    this.mono = Math.max(this.mono, target);
  }
}
