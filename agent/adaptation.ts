import type { Logger } from './log.js';
import type { AgentConfig } from './config/schema.js';
import type { Clock, Frame } from './types.js';
import { systemClock } from './types.js';
import { createMotionGate, type MotionGate, type MotionStats } from './pipeline/motion.js';
import { FrameRateCap, Governor, type GovernorDecision } from './pipeline/governor.js';
import type { PipelineStats } from './pipeline/stats.js';

export interface AdaptationDeps {
  cfg: AgentConfig;
  log: Logger;
  stats: PipelineStats;
  /** Variants the governor may move between (same input size), heaviest first, and the one running. */
  variants: string[];
  running: string;
  /** Opens and swaps in another variant. */
  switchVariant: (name: string) => Promise<void>;
  /** Temperature (max over SoC zones, C) and throttling, read when the governor ticks. */
  thermal: () => { tempC?: number; throttled?: boolean };
  /** Energy of one inference (J), for the motion gate's savings estimate. */
  energyPerInferenceJ?: () => number | undefined;
  /** Nominal source frame rate, for the default latency budget. */
  sourceFps?: number;
  clock?: Clock;
}

/**
 * The seed's adaptive inference, wired: a motion gate that skips inference on unchanged scenes, and a governor
 * that steps to a lighter variant or a lower frame rate when latency exceeds the budget or the board is hot
 * or throttled, and back up with hysteresis. Every change is logged with its reason and kept for status.
 */
export class Adaptation {
  private readonly motion: MotionGate;
  private readonly cap = new FrameRateCap();
  private governor: Governor | undefined;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private readonly clock: Clock;
  readonly changes: Array<{ at: string; reason: string; variant: string; fpsCap: number | undefined }> = [];

  constructor(private readonly d: AdaptationDeps) {
    this.clock = d.clock ?? systemClock;
    this.motion = createMotionGate(d.cfg.pipeline.motionGate, this.clock, { energyPerInferenceJ: d.energyPerInferenceJ });
  }

  /** The pipeline's gate: the frame-rate cap first, then the motion gate. */
  readonly gate = (frame: Frame): boolean => this.cap.admit(frame) && this.motion(frame);

  start(): void {
    const g = this.d.cfg.pipeline.governor;
    if (!g.enabled) return;
    const budget = this.d.cfg.model.selection.latencyBudgetMs ?? (this.d.sourceFps ? 1000 / this.d.sourceFps : 100);
    this.governor = new Governor(g, { variants: this.d.variants, budgetMs: budget, fpsCaps: [10, 5, 2], initialLevel: Math.max(0, this.d.variants.indexOf(this.d.running)) });
    this.d.log.info({ variants: this.d.variants, budgetMs: Math.round(budget) }, 'adaptive governor on');
    this.timer = setInterval(() => void this.tick(), 1_000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  motionStats(): MotionStats {
    return this.motion.stats();
  }

  private async tick(): Promise<void> {
    if (!this.governor || this.busy) return;
    const inf = this.d.stats.stages.inference;
    const t = this.d.thermal();
    const decision: GovernorDecision = this.governor.tick({ now: this.clock.now(), latencyP95Ms: inf.count() ? inf.percentile(95) : undefined, ...t });
    if (!decision.changed) return;
    this.busy = true;
    try {
      this.d.log.warn({ action: decision.action, variant: decision.variant, fpsCap: decision.fpsCap ?? null }, `governor: ${decision.reason}`);
      if (decision.variant !== this.d.running) {
        await this.d.switchVariant(decision.variant);
        this.d.running = decision.variant;
      }
      this.cap.set(decision.fpsCap);
      this.changes.push({ at: new Date(this.clock.wall()).toISOString(), reason: decision.reason, variant: decision.variant, fpsCap: decision.fpsCap });
      if (this.changes.length > 50) this.changes.shift();
    } catch (err) {
      this.d.log.error({ err, variant: decision.variant }, 'governor could not switch variant; keeping the current one');
    } finally {
      this.busy = false;
    }
  }
}
