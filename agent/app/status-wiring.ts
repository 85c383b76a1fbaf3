/**
 * The status page plugged into the running agent: a StatusFeed fed from the agent's event bus, served on the
 * agent's own HTTP listener (health.listen) at `/` and `/status/*`, with the operator's actions going through the
 * agent's own layers (a test pulse through its OutputBank, a zone through check-config and Agent.reload(), the
 * SIGHUP path). Everything is keyed by the `camera` the bus payloads carry; a camera first seen on the bus is
 * added to the page.
 *
 * Cost with nobody watching: per processed frame one bus listener that hands the feed a closure (the frame's
 * pixels are copied and encoded only while someone watches; see agent/status/live.ts); per event a copy of its
 * frame, encoded only once a page connects. While a page is connected, per-stage latency and fps are read once a
 * second from the pipeline's stats, the outputs' status after each report and every 5 s.
 */
import type { Logger } from '../log.js';
import type { AgentConfig } from '../config/schema.js';
import type { LoadedConfig } from '../config/load.js';
import type { EventBus } from '../bus.js';
import type { Health } from '../health/health.js';
import type { OutputBank } from '../actuators/output-bank.js';
import type { ModelChoice } from '../model/host.js';
import type { SelectionResult } from '../select/index.js';
import type { PipelineStats } from '../pipeline/stats.js';
import type { TallySnapshot } from '../health/tally.js';
import { SnapshotEncoder } from '../events/snapshot-encoder.js';
import { StatusFeed } from '../status/feed.js';
import { createStatusHandler, type StatusHandler } from '../status/routes.js';
import { OutputTester } from '../status/output-test.js';
import { readZones, ZoneSaver } from '../status/zone-save.js';
import { operatorActions } from '../status/index.js';
import type { DoctorView } from '../status/source.js';

/** What the wiring reads from the agent (all public on Agent). */
export interface StatusAgentView {
  readonly bus: EventBus;
  readonly deviceId: string;
  readonly selection: SelectionResult | undefined;
  readonly tally: { snapshot(): TallySnapshot };
  outputs(): OutputBank | undefined;
  model(): ModelChoice | undefined;
  /** The frame loop (per-stage latency, fps). */
  readonly pipeline: { readonly stats: PipelineStats } | undefined;
  reload(): Promise<{ applied: boolean; message: string }>;
}

export interface StatusWiringOptions {
  cfg: AgentConfig;
  loaded: LoadedConfig;
  log: Logger;
  agent: StatusAgentView;
  /** Snapshot/live-picture encoder (default: a new one, on its worker thread when dist/ is built). */
  encoder?: SnapshotEncoder;
}

export class StatusWiring {
  feed: StatusFeed | undefined;
  private handler: StatusHandler | undefined;
  private readonly offs: Array<() => void> = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly degraded = new Map<string, string>();
  private thermal: { tempC?: number; throttled?: boolean } = {};
  private outputsPending = false;

  constructor(private readonly o: StatusWiringOptions) {}

  /**
   * Serves the page on `health`'s listener and starts feeding it. No-op when status.enabled is false or health is
   * off. A page that cannot be served (its files missing from a package) is logged; the agent runs on without it.
   */
  start(health: Health, cameras: Array<{ name: string; describe: string; width: number; height: number }>): void {
    const { cfg, log } = this.o;
    if (!cfg.status.enabled || !cfg.health.enabled) return;
    try {
      this.serve(health, cameras);
    } catch (err) {
      log.child({ component: 'status' }).error({ err }, 'the status page cannot be served; the agent runs without it');
      void this.stop();
    }
  }

  private serve(health: Health, cameras: Array<{ name: string; describe: string; width: number; height: number }>): void {
    const { cfg, agent, log } = this.o;
    const feed = new StatusFeed({
      device: { id: agent.deviceId, ...(cfg.device.name ? { name: cfg.device.name } : {}) },
      cameras: cameras.map((c) => ({ ...c })),
      outputs: cfg.outputs,
      maxFps: cfg.status.maxFps,
      recentEvents: cfg.status.recentEvents,
      ...(this.o.encoder ? { encoder: this.o.encoder } : {}),
      log,
    });
    this.feed = feed;
    const bus = agent.bus;
    const on = this.offs.push.bind(this.offs);
    on(
      bus.on('decision', 'status', (d) => {
        const { frame, geometry } = d;
        if (!frame) return;
        if (!feed.liveView(d.camera)) feed.camera({ name: d.camera, describe: d.camera, width: geometry?.srcWidth ?? frame.width, height: geometry?.srcHeight ?? frame.height });
        const fired = d.fired ?? [];
        feed.frame(d.camera, () => ({ frame, ...(geometry ? { geometry } : {}), detections: d.detections, fired }));
      }),
    );
    on(
      bus.on('event', 'status', (e) => {
        if (!e.event) return;
        const ev = { ...e.event, actions: e.event.actions.map((a) => (a.type === 'event' ? e.outcome : a)) };
        feed.event(e.camera, ev, e.evidence);
      }),
    );
    on(bus.on('eventDelivered', 'status', (e) => feed.delivery(e.eventId, 'delivered')));
    on(bus.on('sinkFailed', 'status', (e) => feed.delivery(e.eventId, 'failed', `${e.sink}: ${e.detail}`)));
    on(bus.on('outboxDepth', 'status', (e) => feed.outboxDepth(e.depth)));
    on(
      bus.on('outputReport', 'status', ({ report }) => {
        feed.actuation(report);
        if (feed.subscribers()) this.refreshOutputs();
      }),
    );
    on(bus.on('actuation', 'status', () => feed.subscribers() && this.refreshOutputs()));
    on(bus.on('model', 'status', () => feed.doctor(this.doctor())));
    on(
      bus.on('degraded', 'status', ({ component, reason }) => {
        if (reason) this.degraded.set(component, reason);
        else this.degraded.delete(component);
        feed.doctor(this.doctor());
      }),
    );
    on(
      bus.on('thermal', 'status', (t) => {
        const temps = t.zones.map((z) => z.tempC);
        this.thermal = { ...(temps.length ? { tempC: Math.max(...temps) } : {}), ...(t.throttled !== undefined ? { throttled: t.throttled } : {}) };
      }),
    );

    const file = this.o.loaded.path;
    if (file) {
      try {
        const z = readZones(file);
        feed.config(z.zones, z.rules, z.configHash);
      } catch (err) {
        log.warn({ err, file }, 'status page: the config file could not be read for its zones');
      }
    } else {
      feed.config([], cfg.rules.map((r) => r.name));
    }
    feed.doctor(this.doctor());
    const bank = agent.outputs();
    const actions = bank
      ? operatorActions(
          new OutputTester(bank, cfg.outputs, log),
          file ? new ZoneSaver({ file, reload: () => agent.reload(), saved: (z) => feed.config(z.zones, z.rules, z.configHash), log }) : undefined,
        )
      : undefined;
    this.handler = createStatusHandler({ feed, ...(actions ? { actions } : {}), config: cfg.status, listen: cfg.health.listen, log });
    this.offs.push(health.intercept(this.handler));
    // Latency and outputs are read for connected pages only (every second, every 5 s and at once when one connects).
    let tick = 0;
    let connected = 0;
    this.timer = setInterval(() => {
      const n = feed.subscribers();
      if (n) feed.perf(this.perf());
      if (n && (!connected || ++tick % 5 === 0)) this.refreshOutputs();
      connected = n;
    }, 1_000);
    this.timer.unref();
    feed.perf(this.perf());
    this.refreshOutputs();
    log.child({ component: 'status' }).info({ url: health.url() ? `${health.url()}/` : undefined, password: Boolean(cfg.status.passwordHash) }, 'status page served');
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    for (const off of this.offs.splice(0)) off();
    this.handler?.close();
    const feed = this.feed;
    this.feed = undefined;
    await feed?.close();
  }

  /** One bank status read at a time (it asks the output worker). */
  private refreshOutputs(): void {
    const bank = this.o.agent.outputs();
    const feed = this.feed;
    if (!bank || !feed || this.outputsPending) return;
    this.outputsPending = true;
    bank
      .status()
      .then((s) => feed.outputs(s))
      .catch(() => undefined)
      .finally(() => {
        this.outputsPending = false;
      });
  }

  private doctor(): DoctorView {
    const c = this.o.agent.model();
    const sel = this.o.agent.selection;
    const p = c?.profile;
    const running = c?.opened.variant.name;
    return {
      board: p ? `${p.board.family}${p.board.model ? ` (${p.board.model})` : ''}` : 'unknown',
      accelerators: p ? p.accelerators.map((a) => a.kind + (a.bus ? `/${a.bus}` : '')) : [],
      ...(c ? { model: { name: c.manifest.name, variant: c.opened.variant.name, accelerator: c.opened.backend.accelerator() } } : {}),
      variants: (sel?.variants ?? []).map((v) => ({ name: v.name, accelerator: v.accelerator, eligible: v.eligible, score: v.score, latencyMs: v.latencyMs, reason: v.reason, running: v.name === running })),
      ...(sel?.summary ? { summary: sel.summary } : {}),
      degraded: [...(c?.degraded ? [c.degraded] : []), ...[...this.degraded].map(([k, r]) => `${k}: ${r}`)],
    };
  }

  private perf(): { fps: number; stages: Record<string, { p50: number; p99: number }>; framesDropped: number; tempC?: number; throttled?: boolean } {
    const all = this.o.agent.pipeline ? [this.o.agent.pipeline.stats] : [];
    const stages: Record<string, { p50: number; p99: number }> = {};
    // Several cameras: fps adds up, latencies are the worst camera's.
    for (const st of all) {
      for (const [k, v] of Object.entries(st.summary())) {
        const prev = stages[k];
        stages[k] = prev ? { p50: Math.max(prev.p50, v.p50), p99: Math.max(prev.p99, v.p99) } : { p50: v.p50, p99: v.p99 };
      }
    }
    return { fps: all.reduce((a, s) => a + s.fps(), 0), stages, framesDropped: this.o.agent.tally.snapshot().dropped.latest, ...this.thermal };
  }
}
