/**
 * The guard that keeps the main thread (the frame loop) off a pinned inference thread's CPU while inference is the
 * bottleneck: the decision from the busy share, with its gap, and what it does to the real main thread's mask
 * (sched_setaffinity through koffi, read back from /proc) when fed busy figures from an injected clock.
 */
import { describe, expect, it } from 'vitest';
import { allowedCpus, threadCpus } from '../../drivers/inference/affinity.js';
import { DEFAULT_THRESHOLDS, keepOff, MainThreadGuard, threadRunMs } from '../../drivers/inference/main-thread-guard.js';
import { silentLogger } from '../../agent/log.js';

describe('main thread guard: the decision', () => {
  it('keeps off from 85 % busy, comes back below 70 %, and holds its choice in between', () => {
    expect(DEFAULT_THRESHOLDS).toMatchObject({ keepOffAt: 0.85, letBackBelow: 0.7 });
    expect(keepOff(0.84, false)).toBe(false);
    expect(keepOff(0.85, false)).toBe(true);
    expect(keepOff(0.75, true)).toBe(true);
    expect(keepOff(0.75, false)).toBe(false);
    expect(keepOff(0.69, true)).toBe(false);
  });

  it('reads a thread\'s run time from /proc (this thread: it grows while it computes)', () => {
    const a = threadRunMs(process.pid)!;
    let x = 0;
    // Computes until the kernel has counted more run time (it does at least at every tick); the bound only stops a
    // broken reader from spinning for ever.
    const t0 = performance.now();
    while (threadRunMs(process.pid)! <= a && performance.now() - t0 < 10_000) for (let i = 0; i < 1e5; i++) x += Math.sqrt(x + i);
    expect(x).toBeGreaterThan(0);
    expect(threadRunMs(process.pid)!).toBeGreaterThan(a);
    expect(threadRunMs(999_999_999)).toBeUndefined();
  });
});

describe.skipIf(allowedCpus().length < 2)('main thread guard: the main thread\'s CPUs (needs 2 CPUs)', () => {
  it('a busy inference thread takes its CPU from the main thread; an idle one gives it back; stop() always does', () => {
    const all = allowedCpus();
    const cpu = all.at(-1)!;
    const before = threadCpus(process.pid);
    const clock = { t: 0, run: 0 };
    const g = new MainThreadGuard(cpu, silentLogger, () => clock.run, DEFAULT_THRESHOLDS, () => clock.t);
    const period = (busy: number): void => {
      clock.t += 1000;
      clock.run += busy * 1000;
      g.check();
    };
    g.start();
    try {
      period(0.6);
      expect(g.holding()).toBe(false);
      expect(threadCpus(process.pid)).toEqual(before);
      period(0.95);
      expect(g.holding()).toBe(true);
      expect(threadCpus(process.pid)).toEqual(all.filter((c) => c !== cpu));
      expect(allowedCpus()).toEqual(all); // the process's own list, not the main thread's narrowed one
      period(0.75); // within the gap: no change
      expect(g.holding()).toBe(true);
      period(0.5);
      expect(g.holding()).toBe(false);
      expect(threadCpus(process.pid)).toEqual(before);
      period(0.9);
      expect(g.holding()).toBe(true);
    } finally {
      g.stop();
    }
    expect(g.holding()).toBe(false);
    expect(threadCpus(process.pid)).toEqual(before);
  });
});
