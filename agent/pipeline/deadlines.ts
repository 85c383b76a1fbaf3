interface Watched {
  /** performance.now() by which the call must have settled. */
  due: number;
  fail: () => void;
}

/**
 * Deadlines for the calls in flight, watched by one timer: a call's promise settles with its own result, or rejects
 * with `late()` once `ms` have passed since it was watched. The timer is armed for the earliest deadline and, when
 * it fires, fails what is overdue and re-arms for the next; calls that settle in time only leave the set. The frame
 * loop watches every inference this way: a timer set and cleared per frame, with the race's promises, showed as
 * about 5% of the loop thread's samples in a CPU profile of `run --until-eof` on the demo clip. Deadlines run on
 * the monotonic wall clock, as timers do, whatever clock the loop is given. The timer keeps the process alive only
 * while a call is watched.
 */
export class Deadlines {
  private readonly watched = new Set<Watched>();
  private timer: NodeJS.Timeout | undefined;
  private armedFor = Infinity;

  watch<T>(p: Promise<T>, ms: number, late: () => Error): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const w: Watched = { due: performance.now() + ms, fail: () => reject(late()) };
      this.watched.add(w);
      if (w.due < this.armedFor) this.arm(w.due);
      else this.timer?.ref();
      p.then(
        (v) => {
          this.settled(w);
          resolve(v);
        },
        (err: unknown) => {
          this.settled(w);
          reject(err);
        },
      );
    });
  }

  /** With nothing watched, the armed timer no longer keeps the process alive (a run that ended exits at once). */
  private settled(w: Watched): void {
    this.watched.delete(w);
    if (!this.watched.size) this.timer?.unref();
  }

  /** Calls watched now (for tests). */
  size(): number {
    return this.watched.size;
  }

  private arm(due: number): void {
    clearTimeout(this.timer);
    this.armedFor = due;
    this.timer = setTimeout(() => this.fire(), Math.max(0, due - performance.now()));
  }

  private fire(): void {
    this.timer = undefined;
    this.armedFor = Infinity;
    const now = performance.now();
    let next = Infinity;
    for (const w of this.watched) {
      if (w.due <= now) {
        this.watched.delete(w);
        w.fail();
      } else next = Math.min(next, w.due);
    }
    if (next < Infinity) this.arm(next);
  }
}
