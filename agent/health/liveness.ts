/**
 * Frame-flow liveness: the single source of truth for "is the agent doing its job". /healthz and the
 * systemd watchdog both ask it, so they can never disagree.
 */
export type LivenessStatus = 'starting' | 'ok' | 'stalled' | 'stopping';

export interface LivenessSnapshot {
  status: LivenessStatus;
  frames: number;
  /** ms since the last frame, undefined before the first. */
  lastFrameAgeMs: number | undefined;
  /** Frames per second over the last `fpsWindowMs`. */
  fps: number;
}

export class Liveness {
  private frames = 0;
  private last: number | undefined;
  private stoppingFlag = false;
  /** Ring of recent frame times for the fps estimate. */
  private readonly recent: number[] = [];

  constructor(
    private readonly stallMs: number,
    private readonly now: () => number,
    private readonly fpsWindowMs = 5_000,
  ) {}

  frame(): void {
    const t = this.now();
    this.frames++;
    this.last = t;
    this.recent.push(t);
    this.trim(t);
  }

  /** From now on the agent is shutting down: not healthy, whatever the frames do. */
  stopping(): void {
    this.stoppingFlag = true;
  }

  flowing(now = this.now()): boolean {
    return !this.stoppingFlag && this.last !== undefined && now - this.last <= this.stallMs;
  }

  snapshot(now = this.now()): LivenessSnapshot {
    this.trim(now);
    const status: LivenessStatus = this.stoppingFlag ? 'stopping' : this.last === undefined ? 'starting' : this.flowing(now) ? 'ok' : 'stalled';
    // fps over the part of the window we have seen so far, so the first seconds are not underestimated.
    const span = this.recent.length > 1 ? Math.max(now - this.recent[0]!, 1) : 0;
    const fps = span > 0 ? ((this.recent.length - 1) * 1000) / span : 0;
    return { status, frames: this.frames, lastFrameAgeMs: this.last === undefined ? undefined : now - this.last, fps };
  }

  private trim(now: number): void {
    while (this.recent.length && now - this.recent[0]! > this.fpsWindowMs) this.recent.shift();
  }
}
