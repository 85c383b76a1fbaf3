import type { Frame } from '../../agent/types.js';

/**
 * A one-frame mailbox between a source and the pipeline: no queue, ever.
 * - `latest` (cameras): a new frame replaces one not yet taken, and the drop is counted.
 * - `lossless` (files with --until-eof): `offer` tells the producer to pause until the frame is taken.
 */
export class FrameSlot {
  private frame: Frame | null = null;
  private waiter: ((f: Frame | null) => void) | null = null;
  private failWaiter: ((err: Error) => void) | null = null;
  private ended = false;
  private error: Error | null = null;
  private onTaken: (() => void) | null = null;
  dropped = 0;

  constructor(readonly mode: 'latest' | 'lossless') {}

  /** Hands a frame over. Returns false when the producer should pause (lossless mode, slot full). */
  offer(f: Frame): boolean {
    if (this.waiter) {
      const w = this.waiter;
      this.clearWaiter();
      w(f);
      return true;
    }
    if (this.frame) {
      if (this.mode === 'lossless') throw new Error('FrameSlot: offer() while full in lossless mode (producer must pause)');
      this.dropped++;
      this.frame.release?.(); // never seen by the consumer
    }
    this.frame = f;
    return this.mode === 'latest';
  }

  /** Called once when a full lossless slot is emptied, so the producer can resume. */
  whenTaken(cb: () => void): void {
    this.onTaken = cb;
  }

  /** The end of a finite source: pending and later `take()` calls resolve to null once the slot is empty. */
  end(): void {
    this.ended = true;
    if (this.waiter && !this.frame) {
      const w = this.waiter;
      this.clearWaiter();
      w(null);
    }
  }

  /** A fatal source error: the next `take()` rejects with it. */
  fail(err: Error): void {
    this.error = err;
    if (this.failWaiter) {
      const f = this.failWaiter;
      this.clearWaiter();
      f(err);
    }
  }

  /** Clears a previous end or error (a restarted source). */
  reset(): void {
    this.ended = false;
    this.error = null;
  }

  take(): Promise<Frame | null> {
    if (this.frame) {
      const f = this.frame;
      this.frame = null;
      const cb = this.onTaken;
      this.onTaken = null;
      cb?.();
      return Promise.resolve(f);
    }
    if (this.error) return Promise.reject(this.error);
    if (this.ended) return Promise.resolve(null);
    return new Promise<Frame | null>((resolve, reject) => {
      this.waiter = resolve;
      this.failWaiter = reject;
    });
  }

  private clearWaiter(): void {
    this.waiter = null;
    this.failWaiter = null;
  }
}
