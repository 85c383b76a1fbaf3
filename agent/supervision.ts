import type { Logger } from './log.js';
import type { AgentConfig } from './config/schema.js';
import { Health } from './health/health.js';
import type { BuildInfo } from './health/agent-metrics.js';
import { metricsFromBus } from './health/bus-metrics.js';
import type { EventBus } from './bus.js';
import type { PipelineStats } from './pipeline/stats.js';
import { Watchdog } from './health/watchdog.js';
import type { Notifier } from './ports.js';

export interface SupervisionOptions {
  bus: EventBus;
  /** systemd's notifier (the composition root's sd_notify driver; a no-op outside systemd). */
  notifier: Notifier;
  outboxDepth?: () => number | undefined;
  /** Thermal zones now (the composition root's sysfs reader). */
  thermal?: () => { zones: Array<{ zone: string; tempC: number }>; throttled?: boolean };
  build?: BuildInfo;
  /** Called on each periodic refresh (the agent republishes its status). */
  onRefresh?: () => void;
}

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
  private readonly outboxDepth: () => number | undefined;
  private readonly bus: EventBus;
  private readonly thermal: SupervisionOptions['thermal'];
  private readonly onRefresh: (() => void) | undefined;
  private unsubscribe: Array<() => void> = [];

  constructor(cfg: AgentConfig, log: Logger, opts: SupervisionOptions) {
    this.health = new Health({ listen: cfg.health.listen, enabled: cfg.health.enabled, stallMs: cfg.pipeline.stallMs, log, ...(opts.build ? { build: opts.build } : {}) });
    this.notifier = opts.notifier;
    this.watchdog = new Watchdog({ notifier: this.notifier, alive: () => this.starting || this.health.flowing(), log });
    this.outboxDepth = opts.outboxDepth ?? (() => undefined);
    this.bus = opts.bus;
    this.thermal = opts.thermal;
    this.onRefresh = opts.onRefresh;
  }

  async start(): Promise<void> {
    // Metrics and liveness hear the loop through the bus; READY after the first inference.
    this.unsubscribe = [metricsFromBus(this.bus, this.health), this.bus.on('firstInference', 'supervision', () => this.firstInference())];
    this.readThermal();
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

  private firstInference(): void {
    if (!this.starting) return;
    this.starting = false;
    this.notifier.ready(this.statusText());
    this.statusTimer = setInterval(() => this.refresh(), 5_000);
    this.statusTimer.unref();
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
    for (const off of this.unsubscribe.splice(0)) off();
    this.watchdog.stop();
    await this.health.stop();
    this.notifier.close();
  }

  /** Every 5 s while running: outbox depth, temperatures, systemd STATUS=, and the agent's own refresh (MQTT status). */
  refresh(): void {
    const depth = this.outboxDepth();
    if (depth !== undefined) this.bus.emit('outboxDepth', { depth });
    this.readThermal();
    this.notifier.status(this.statusText());
    this.onRefresh?.();
  }

  private readThermal(): void {
    if (!this.thermal) return;
    try {
      const t = this.thermal();
      if (t.zones.length) this.bus.emit('thermal', { zones: t.zones, ...(t.throttled !== undefined ? { throttled: t.throttled } : {}) });
    } catch {
      // No readable thermal zone here (a container, a VM): nothing to report.
    }
  }

  private statusText(): string {
    const fps = this.stats?.fps() ?? 0;
    return `${fps.toFixed(1)} fps, ${this.describe}, ${this.stats?.events ?? 0} events`;
  }
}
