import type { Logger } from './log.js';
import type { AgentConfig } from './config/schema.js';
import { Health } from './health/health.js';
import type { ActionOutcome } from './types.js';
import type { PipelineStats } from './pipeline/stats.js';
import { createNotifier, type Notifier } from '../drivers/systemd/notify.js';
import { Watchdog } from '../drivers/systemd/watchdog.js';

/**
 * Liveness, told the truth: systemd READY after the first inference, watchdog pings only while frames flow,
 * STATUS= with fps/variant/accelerator, STOPPING on the way down; /healthz and /metrics from the same facts.
 * Outside systemd the notifier is a no-op, so the same wiring runs from a terminal.
 */
export class Supervision {
  readonly health: Health;
  private readonly notifier: Notifier;
  private readonly watchdog: Watchdog;
  private starting = true;
  private statusTimer: NodeJS.Timeout | undefined;
  private stats: PipelineStats | undefined;
  private describe = '';
  private lastDropped = 0;
  private readonly outboxDepth: () => number | undefined;

  constructor(cfg: AgentConfig, log: Logger, opts: { outboxDepth?: () => number | undefined } = {}) {
    this.health = new Health({ listen: cfg.health.listen, enabled: cfg.health.enabled, stallMs: cfg.pipeline.stallMs, log });
    this.notifier = createNotifier({ log });
    this.watchdog = new Watchdog({ notifier: this.notifier, alive: () => this.starting || this.health.flowing(), log });
    this.outboxDepth = opts.outboxDepth ?? (() => undefined);
  }

  async start(): Promise<void> {
    await this.health.start();
    // Start-up can take a while (model load, known-answer check): keep the watchdog fed until the first frame.
    this.watchdog.start();
  }

  /** The loop is built: model and source known. */
  attach(stats: PipelineStats, variant: string, accelerator: string, source: string): void {
    this.stats = stats;
    this.describe = `${variant} on ${accelerator}`;
    this.health.setModel(variant, accelerator);
    this.health.setInfo({ source });
  }

  firstInference(): void {
    this.starting = false;
    this.notifier.ready(this.statusText());
    this.statusTimer = setInterval(() => this.refresh(), 5_000);
    this.statusTimer.unref();
  }

  frame(stagesMs: Record<string, number>): void {
    this.health.frame(stagesMs);
  }

  actuation(o: ActionOutcome): void {
    this.health.actuation(o);
  }

  framesDropped(total: number): void {
    if (total > this.lastDropped) this.health.metrics.framesDropped.inc({ reason: 'busy' }, total - this.lastDropped);
    this.lastDropped = total;
  }

  restarted(component: string): void {
    this.health.metrics.restarts.inc({ component });
  }

  /** SIGHUP: RELOADING=1 now, READY=1 again when done (also when the new config was refused). */
  reloading(): void {
    this.notifier.reloading('reloading the configuration');
  }

  reloaded(message: string): void {
    this.notifier.ready(message);
  }

  stopping(): void {
    this.health.stopping();
    this.notifier.stopping('stopping: outputs safe, events flushed');
  }

  async stop(): Promise<void> {
    clearInterval(this.statusTimer);
    this.watchdog.stop();
    await this.health.stop();
    this.notifier.close();
  }

  private refresh(): void {
    const depth = this.outboxDepth();
    if (depth !== undefined) this.health.metrics.outboxDepth.set(depth);
    this.notifier.status(this.statusText());
  }

  private statusText(): string {
    const fps = this.stats?.fps() ?? 0;
    return `${fps.toFixed(1)} fps, ${this.describe}, ${this.stats?.events ?? 0} events`;
  }
}
