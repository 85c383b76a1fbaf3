import type { Clock } from '../types.js';

export interface TimerHandle {
  cancelled: boolean;
}

/** Timers on the same monotonic clock as `Clock.now()`; injected so the safety layer runs on a fake clock in tests. */
export interface Timers {
  /** Runs fn at monotonic time `at` (or as soon as possible when `at` is past). Never calls fn synchronously. */
  at(at: number, fn: () => void): TimerHandle;
  /** Runs fn every `ms` until cancelled. */
  every(ms: number, fn: () => void): TimerHandle;
  cancel(h: TimerHandle | undefined): void;
}

/**
 * Real timers with sub-millisecond release: setTimeout wakes the thread `spinMs` early (Node timers have 1 ms
 * resolution and fire late, never early), then a short busy-wait on performance.now() releases fn on time.
 * Meant for the output worker thread, where spinning a millisecond or two blocks nothing else.
 */
export function preciseTimers(clock: Clock, spinMs = 2): Timers {
  return {
    at(at, fn) {
      const h: TimerHandle & { t?: NodeJS.Timeout | NodeJS.Immediate } = { cancelled: false };
      const arm = (): void => {
        if (h.cancelled) return;
        const left = at - clock.now();
        if (left > spinMs) {
          h.t = setTimeout(arm, left - spinMs);
          return;
        }
        while (clock.now() < at) {
          /* spin: at most spinMs plus the timer's lateness */
        }
        if (!h.cancelled) fn();
      };
      h.t = setImmediate(arm);
      return h;
    },
    every(ms, fn) {
      const h: TimerHandle & { t?: NodeJS.Timeout } = { cancelled: false };
      h.t = setInterval(() => {
        if (!h.cancelled) fn();
      }, ms);
      h.t.unref();
      return h;
    },
    cancel(h) {
      if (!h) return;
      h.cancelled = true;
      const t = (h as { t?: NodeJS.Timeout | NodeJS.Immediate }).t;
      if (t) {
        clearTimeout(t as NodeJS.Timeout);
        clearInterval(t as NodeJS.Timeout);
        clearImmediate(t as NodeJS.Immediate);
      }
    },
  };
}

/** Local calendar day of a wall-clock time, "YYYY-MM-DD", for the daily on-time budget. */
export function localDay(wallMs: number): string {
  const d = new Date(wallMs);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}
