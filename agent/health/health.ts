/**
 * Health: what the frame loop wires in. One object owns the metrics registry, the frame-flow liveness and
 * the HTTP endpoint.
 *
 *   const health = new Health({ listen: cfg.health.listen, enabled: cfg.health.enabled, stallMs: cfg.pipeline.stallMs, log });
 *   await health.start();
 *   health.setModel(variant, accelerator);             // /healthz, accelerator_info, STATUS=
 *   health.frame({ capture, preprocess, inference, decode, track, rules, total }); // every processed frame, ms
 *   health.actuation(outcome);                          // every pulse/hold outcome
 *   const wd = new Watchdog({ notifier, alive: () => starting || health.flowing() });
 *   ...
 *   health.stopping(); await health.stop();
 */
import { systemClock, type ActionOutcome, type Clock } from '../types.js';
import { silentLogger, type Logger } from '../log.js';
import { registerAgentMetrics, type AgentMetrics, type BuildInfo } from './agent-metrics.js';
import { HealthServer, type Intercept, type Route } from './server.js';
import { Liveness, type LivenessSnapshot } from './liveness.js';
import { MetricsRegistry } from './metrics.js';

export interface HealthOptions {
  /** host:port (config health.listen); default 127.0.0.1:9464. Port 0: any free port. */
  listen?: string;
  /** false: no HTTP server (metrics and liveness still work, e.g. for the watchdog). */
  enabled?: boolean;
  /** No frame for this long counts as stalled (config pipeline.stallMs). */
  stallMs: number;
  clock?: Clock;
  log?: Logger;
  /** edge_agent_build_info labels (version from package.json). */
  build?: BuildInfo;
}

export class Health {
  readonly registry: MetricsRegistry;
  readonly metrics: AgentMetrics;
  private readonly liveness: Liveness;
  private readonly server: HealthServer | undefined;
  private readonly clock: Clock;
  private readonly startedAt: number;
  private info: Record<string, unknown> = {};
  private providers: Array<() => Record<string, unknown>> = [];

  constructor(opts: HealthOptions) {
    this.clock = opts.clock ?? systemClock;
    const now = () => this.clock.now();
    this.startedAt = now();
    this.registry = new MetricsRegistry(now);
    this.liveness = new Liveness(opts.stallMs, now);
    this.metrics = registerAgentMetrics(
      this.registry,
      () => {
        const age = this.liveness.snapshot().lastFrameAgeMs;
        return age === undefined ? Infinity : age / 1000;
      },
      opts.build,
    );
    const log = (opts.log ?? silentLogger).child({ component: 'health' });
    this.server =
      opts.enabled === false
        ? undefined
        : new HealthServer(opts.listen ?? '127.0.0.1:9464', { healthz: () => this.healthz(), metrics: () => this.expose() }, log);
  }

  async start(): Promise<void> {
    await this.server?.start();
  }

  async stop(): Promise<void> {
    await this.server?.stop();
  }

  /**
   * Call once per frame that went through the whole loop, with its per-stage times in ms when known
   * (e.g. { capture, preprocess, inference, decode, track, rules, total }). An `inference` time also counts
   * one inference and feeds edge_agent_inference_seconds. Metrics are in seconds (Prometheus base units).
   */
  frame(stagesMs?: Readonly<Record<string, number | undefined>>): void {
    this.liveness.frame();
    this.metrics.frames.inc();
    if (!stagesMs) return;
    for (const [stage, ms] of Object.entries(stagesMs)) {
      if (ms === undefined || !Number.isFinite(ms)) continue;
      this.metrics.stageLatency.observe(ms / 1000, { stage });
      if (stage === 'inference') {
        this.metrics.inferences.inc();
        this.metrics.inferenceSeconds.observe(ms / 1000);
      }
    }
  }

  /** Counts an output command by its outcome (edge_agent_actuations_total{output,result=status}). */
  actuation(outcome: ActionOutcome): void {
    if (outcome.type === 'event') return;
    this.metrics.actuations.inc({ output: outcome.output, result: outcome.status });
  }

  /** The model variant and accelerator in use: /healthz fields, edge_agent_accelerator_info, STATUS= line. */
  setModel(variant: string, accelerator: string): void {
    this.metrics.acceleratorInfo.reset();
    this.metrics.acceleratorInfo.set(1, { kind: accelerator, variant });
    this.setInfo({ variant, accelerator });
  }

  /** Adds a GET route to the endpoint (the status page); no-op when the endpoint is disabled. */
  route(path: string, handler: Route): void {
    this.server?.route(path, handler);
  }

  /** Asks `fn` first for every request (the status page); no-op when the endpoint is disabled. Returns the remover. */
  intercept(fn: Intercept): () => void {
    return this.server?.intercept(fn) ?? (() => undefined);
  }

  /** True while frames flow (a frame within stallMs, not stopping): the watchdog's condition. */
  flowing(): boolean {
    return this.liveness.flowing();
  }

  /** /healthz turns 503 from now on (shutdown in progress). */
  stopping(): void {
    this.liveness.stopping();
  }

  /** Fields computed at each /healthz request (the agent's tally of frames, drops, pulses, events, restarts). */
  provide(fn: () => Record<string, unknown>): void {
    this.providers.push(fn);
  }

  /** Extra fields for /healthz (variant, accelerator, source...). Merged into the previous ones. */
  setInfo(info: Record<string, unknown>): void {
    this.info = { ...this.info, ...info };
  }

  snapshot(): LivenessSnapshot {
    return this.liveness.snapshot();
  }

  /** URL of the running endpoint, e.g. http://127.0.0.1:9464. */
  url(): string | undefined {
    return this.server?.url();
  }

  /** One line for systemd STATUS=, e.g. "14.8 fps, yolo-int8 on coral-usb, 1234 frames". */
  statusLine(): string {
    const s = this.liveness.snapshot();
    const parts = [`${s.fps.toFixed(1)} fps`];
    if (this.info.variant) parts.push(`${String(this.info.variant)}${this.info.accelerator ? ` on ${String(this.info.accelerator)}` : ''}`);
    parts.push(`${s.frames} frames`);
    if (s.status !== 'ok') parts.push(s.status);
    return parts.join(', ');
  }

  private healthz(): [number, Record<string, unknown>] {
    const s = this.liveness.snapshot();
    const body = {
      status: s.status,
      frames: s.frames,
      lastFrameAgeMs: s.lastFrameAgeMs === undefined ? null : Math.round(s.lastFrameAgeMs),
      fps: Math.round(s.fps * 100) / 100,
      uptimeS: Math.round((this.clock.now() - this.startedAt) / 1000),
      ...this.info,
      ...Object.assign({}, ...this.providers.map((p) => p())),
    };
    return [s.status === 'ok' ? 200 : 503, body];
  }

  private expose(): string {
    this.metrics.fps.set(Math.round(this.liveness.snapshot().fps * 100) / 100);
    return this.registry.expose();
  }
}
