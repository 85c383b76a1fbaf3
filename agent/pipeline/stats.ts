/** A fixed-size ring of samples with percentiles: rolling statistics that never grow. */
export class Rolling {
  private readonly buf: Float64Array;
  private n = 0;
  private i = 0;
  private sum = 0;
  total = 0;

  constructor(size = 512) {
    this.buf = new Float64Array(size);
  }

  add(v: number): void {
    if (this.n === this.buf.length) this.sum -= this.buf[this.i]!;
    else this.n++;
    this.buf[this.i] = v;
    this.sum += v;
    this.i = (this.i + 1) % this.buf.length;
    this.total++;
  }

  count(): number {
    return this.n;
  }

  mean(): number {
    return this.n ? this.sum / this.n : 0;
  }

  /** Percentile (0..100) of the samples in the window, nearest-rank. */
  percentile(p: number): number {
    if (!this.n) return 0;
    // A typed array sorts numerically by itself: no boxed numbers, no comparator calls.
    const sorted = this.buf.slice(0, this.n).sort();
    const k = Math.min(this.n - 1, Math.max(0, Math.ceil((p / 100) * this.n) - 1));
    return sorted[k]!;
  }
}

export const stageNames = ['capture', 'preprocess', 'inference', 'decode', 'track', 'rules', 'total'] as const;
export type Stage = (typeof stageNames)[number];

export interface StageSummary {
  p50: number;
  p99: number;
  mean: number;
}

/** Per-stage timings, fps over a sliding window, and counters for the loop. */
export class PipelineStats {
  readonly stages: Record<Stage, Rolling> = Object.fromEntries(stageNames.map((s) => [s, new Rolling()])) as Record<Stage, Rolling>;
  /** Capture-to-decision latency: from the frame's capture to the end of rules/actions. */
  readonly decision = new Rolling();
  frames = 0;
  inferences = 0;
  inferenceErrors = 0;
  inferenceTimeouts = 0;
  backendRestarts = 0;
  /** Frames not inferred because the motion gate or the governor's frame-rate cap held them back. */
  skippedByGate = 0;
  firings = 0;
  events = 0;
  private readonly stamps = new Float64Array(64);
  private stampN = 0;

  /** Marks a processed frame at monotonic time `now` (for fps). */
  tick(now: number): void {
    this.stamps[this.stampN % this.stamps.length] = now;
    this.stampN++;
    this.frames++;
  }

  /** Frames per second over the last (up to 64) frames. */
  fps(): number {
    const n = Math.min(this.stampN, this.stamps.length);
    if (n < 2) return 0;
    const last = this.stamps[(this.stampN - 1) % this.stamps.length]!;
    const first = this.stamps[(this.stampN - n) % this.stamps.length]!;
    return last > first ? ((n - 1) * 1000) / (last - first) : 0;
  }

  summary(): Record<Stage | 'decision', StageSummary> {
    const out = {} as Record<Stage | 'decision', StageSummary>;
    for (const s of stageNames) out[s] = sum(this.stages[s]);
    out.decision = sum(this.decision);
    return out;
  }
}

function sum(r: Rolling): StageSummary {
  return { p50: r.percentile(50), p99: r.percentile(99), mean: r.mean() };
}
