import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Logger } from './log.js';
import { AgentError, messageOf } from './errors.js';
import type { AgentConfig } from './config/schema.js';
import { estimateDecisionLatencyMs, pulseDelayWarnings } from './actuators/delay-check.js';
import { configPath, loadConfigFile, loadConfigFileOffThread, type LoadedConfig } from './config/load.js';
import { loadManifest, variantInput, type LoadedManifest, type VariantSpec } from './model/manifest.js';
import { decoderThreads } from './model/inference-thread.js';
import type { ModelHost, ModelChoice } from './model/host.js';
import { TensorPacker } from './preprocess/tensor.js';
import { inputSize } from './preprocess/geometry.js';
import { prepareDecoder } from './decode/index.js';
import { IouTracker } from './tracker/tracker.js';
import { RuleEngine } from './rules/engine.js';
import { Pipeline } from './pipeline/pipeline.js';
import type { LoopObserver, OutputsPort } from './pipeline/ports.js';
import { OutputBank } from './actuators/index.js';
import { ledgerDir } from './actuators/ledger.js';
import { EventHub } from './events/hub.js';
import { createEventHub } from './events/registry.js';
import { Supervision } from './supervision.js';
import { UuidV7 } from './events/uuidv7.js';
import type { ActionOutcome, FrameSource, ModelRef } from './types.js';
import type { AgentDrivers } from './ports.js';
import { Adaptation } from './adaptation.js';
import { EventBus } from './bus.js';
import { Tally, type TallySnapshot } from './health/tally.js';
import { packageVersion } from './paths.js';
import type { SelectionResult } from './select/index.js';

export type { ModelChoice } from './model/host.js';

export interface AgentOptions {
  loaded: LoadedConfig;
  log: Logger;
  /** latest: drop frames the loop has no time for (cameras); lossless: every frame of a file (--until-eof). */
  mode: 'latest' | 'lossless';
  /** Append events as JSON lines here (in addition to events.jsonl in the config). */
  eventsOut?: string;
  /** Replace every output driver by a dry-run journal. */
  simulateOutputs?: string;
  /** Broker URL overriding events.mqtt.url (run --mqtt). */
  mqttUrl?: string;
  stateDir: string;
  observer?: LoopObserver;
  /** The drivers (agent/app/compose.ts composeAgent() gives this machine's). */
  drivers: AgentDrivers;
  /** Where output drivers find /sys and /dev (tests: a sysroot folder honest to the kernel's sysfs GPIO layout). */
  outputRoots?: { sysRoot?: string; devRoot?: string };
}

export interface RunSummary {
  frames: number;
  seconds: number;
  fps: number;
  events: number;
  firings: number;
  /** Pulse commands as returned (scheduled, missed, refused, failed) and what became of them (fired, stuck). */
  pulses: { scheduled: number; missed: number; refused: number; failed: number; fired: number; stuck: number };
  /** Events no sink could take (counted apart from `events`, which only counts events durably queued). */
  eventsFailed: number;
  restarts: TallySnapshot['restarts'];
  /** Events each sink failed to take, by sink type. */
  sinkFailures: Record<string, number>;
  dropped: number;
  /** Frames the motion gate or the governor's frame-rate cap kept from inference, and the energy that saved. */
  skipped: number;
  energySavedJ?: number;
  stages: ReturnType<Pipeline['stats']['summary']>;
  model: ModelRef;
  /** The thread inference ran in (model.inferenceThread, or the runtime's own thread for TFLite). */
  inferenceThread: 'worker' | 'main';
  /** Where frames were packed into the input tensor: the frame loop, or the backend's inference thread (then the preprocess stage is 0 and packing counts in inference). */
  packing: 'frame loop' | 'inference thread';
  source: string;
}

/**
 * The composition root: builds source, model, decoder, tracker, rules, outputs and sinks from the config and
 * wires them into the frame loop. start() acts, stop() undoes in reverse order.
 */
export class Agent {
  private readonly cfg: AgentConfig;
  private readonly log: Logger;
  private choice: ModelChoice | undefined;
  /** Every variant's score or rejection reason, for status and doctor-like logs. */
  selection: SelectionResult | undefined;
  private bank: OutputBank | undefined;
  private hub: EventHub | undefined;
  private source: FrameSource | undefined;
  pipeline: Pipeline | undefined;
  private t0 = 0;
  private lastPulseEnd = 0;
  /** Everything the agent reports about itself; metrics, /healthz, the summary and the MQTT status listen. */
  readonly bus: EventBus;
  readonly tally: Tally;
  /** Reduced modes reported on the bus (`degraded`), by component. */
  private readonly degradedBy = new Map<string, string>();
  private readonly camera = 'default';
  private readonly ids = new UuidV7();
  private supervision: Supervision | undefined;
  private host: ModelHost | undefined;
  private adaptation: Adaptation | undefined;

  constructor(private readonly opts: AgentOptions) {
    this.cfg = opts.loaded.config;
    this.log = opts.log;
    this.bus = new EventBus(opts.log);
    this.tally = new Tally(this.bus);
    this.bus.on('restart', 'log', (p) => this.log.warn({ component: p.component, camera: p.camera }, `${p.component} restarted: ${p.reason}`));
    this.bus.on('outputReport', 'log', ({ report }) => {
      if (report.kind === 'stuck') this.log.error({ output: report.output, detail: report.detail }, `output ${report.output} is stuck on`);
    });
    if (opts.observer?.frame) {
      const f = opts.observer.frame.bind(opts.observer);
      this.bus.on('frame', 'observer', (p) => f(p.stagesMs));
    }
    if (opts.observer?.firstInference) {
      const f = opts.observer.firstInference.bind(opts.observer);
      this.bus.on('firstInference', 'observer', () => f());
    }
  }

  get deviceId(): string {
    return this.cfg.device.id ?? hostname().replace(/[^A-Za-z0-9._-]/g, '-');
  }

  model(): ModelChoice | undefined {
    return this.choice;
  }

  outputs(): OutputBank | undefined {
    return this.bank;
  }

  events(): EventHub | undefined {
    return this.hub;
  }

  async start(): Promise<void> {
    const cfg = this.cfg;
    // A state folder that cannot be used (a file, read-only, full) must not stop the line; the outbox reports it.
    try {
      mkdirSync(this.opts.stateDir, { recursive: true });
    } catch (err) {
      this.log.warn({ stateDir: this.opts.stateDir, code: (err as NodeJS.ErrnoException).code }, 'state folder unusable: events not durable and output limits not remembered until it is');
    }
    this.supervision = new Supervision(cfg, this.log, {
      bus: this.bus,
      notifier: this.opts.drivers.notifier(this.log),
      outboxDepth: () => outboxDepth(this.hub),
      thermal: this.opts.drivers.thermal,
      build: { version: packageVersion(), node: process.versions.node, arch: process.arch },
      onRefresh: () => this.hub?.setStatus(this.statusSummary()),
    });
    await this.supervision.start();
    this.bus.on('degraded', 'agent', ({ component, reason }) => {
      if (reason) this.degradedBy.set(component, reason);
      else this.degradedBy.delete(component);
      this.hub?.setStatus(this.statusSummary());
    });
    this.supervision.health.provide(() => ({ counts: this.tally.snapshot(), degraded: this.degradedList() }));
    const manifest0 = loadManifest(configPath(this.opts.loaded, cfg.model.manifest), { allowedRoots: cfg.model.allowedRoots.map((r) => configPath(this.opts.loaded, r)) });
    this.host = this.opts.drivers.modelHost({ manifest: manifest0, settings: cfg.model, stateDir: this.opts.stateDir, job: this.opts.mode === 'lossless' ? 'file' : 'live', log: this.log });
    this.choice = await this.host.open();
    this.selection = this.host.selection;
    // FLOPs feed only the energy the motion gate saves: counted (reading the ONNX graphs) only when it is on.
    if (cfg.pipeline.motionGate.enabled) for (const v of this.choice.manifest.variants) await this.host.flopsOf(v.name);
    const { opened, manifest } = this.choice;
    // H22: a pulse delay the decision cannot meet would make every pulse "missed": say so at start, with the number.
    for (const w of pulseDelayWarnings(cfg.rules, estimateDecisionLatencyMs(opened.knownAnswer?.latencyMs))) this.log.warn({ rule: w.rule, output: w.output, delayMs: w.delayMs, latencyMs: w.latencyMs }, w.message);
    const modelRef: ModelRef = { name: manifest.name, variant: opened.variant.name, sha256: opened.variant.sha256, accelerator: opened.backend.accelerator() };

    // Sinks first: a networked (MQTT) relay output publishes through the event sink's connection.
    const events = { ...cfg.events, ...(cfg.events.jsonl ? { jsonl: configPath(this.opts.loaded, cfg.events.jsonl) } : {}) };
    this.hub = await createEventHub(events, {
        deviceId: this.deviceId,
        deviceName: cfg.device.name,
        stateDir: this.opts.stateDir,
        log: this.log,
        swVersion: packageVersion(),
        onReconnect: (sink) => this.bus.emit('restart', { component: 'sink', reason: `${sink} reconnected to its broker` }),
        onDelivered: (sink, eventId) => this.bus.emit('eventDelivered', { sink, eventId }),
      }, { mqttUrl: this.opts.mqttUrl, eventsOut: this.opts.eventsOut });
    this.hub.onSinkFailure((sink, eventId, detail) => this.bus.emit('sinkFailed', { sink, eventId, detail }));
    this.hub.onDegraded((reason) => this.bus.emit('degraded', { component: 'events', reason }));
    await this.hub.start();
    this.hub.setStatus(this.statusSummary());
    const publish = this.hub.publisher();

    this.bank = new OutputBank(cfg.outputs, {
      log: this.log,
      simulateJournal: this.opts.simulateOutputs,
      stallMs: cfg.pipeline.stallMs,
      // What happens to an output after the call returned (a pulse fired, an output stuck on) goes on the bus.
      onReport: (report) => this.bus.emit('outputReport', { report }),
      ...(this.opts.outputRoots ? { driverContext: this.opts.outputRoots } : {}),
      // Simulated outputs spend no real on-time: they neither read nor write the ledger.
      ...(this.opts.simulateOutputs ? {} : { ledgerDir: ledgerDir(this.opts.stateDir) }),
      ...(publish ? { publish: (topic: string, payload: string, o: { qos: 0 | 1 | 2; retain: boolean }) => publish(topic, payload, o) } : {}),
    });
    await this.bank.start();

    // Paths in the config are relative to the config file, like every other path in it.
    const src = cfg.source.type === 'file' ? { ...cfg.source, path: configPath(this.opts.loaded, cfg.source.path) } : cfg.source.type === 'images' ? { ...cfg.source, dir: configPath(this.opts.loaded, cfg.source.dir) } : cfg.source;
    const decoding = decoderThreads(cfg.model.threads, opened.backend.runsIn?.() ?? 'main');
    this.source = await this.opts.drivers.openSource(src, { input: opened.input, mode: this.opts.mode, log: this.log, decoderThreads: decoding, planar: opened.input.layout === 'NCHW' });
    await this.source.start();
    const geometry = this.source.geometry();
    const { width, height } = inputSize(opened.input);
    const inputInfo = opened.backend.inputs().find((i) => i.name === opened.input.name);
    const sup = this.supervision;
    const packer = new TensorPacker(opened.input, { quant: inputInfo?.quant });

    this.pipeline = new Pipeline({
      source: this.source,
      packer,
      backend: opened.backend,
      inputName: opened.input.name,
      decode: prepareDecoder(manifest.decoder, manifest.labels),
      decodeCtx: { spec: manifest.decoder, labels: manifest.labels, inputWidth: width, inputHeight: height, geometry },
      tracker: new IouTracker(cfg.tracker),
      rules: new RuleEngine(cfg.rules, this.log),
      outputs: this.outputsPort(),
      events: this.hub,
      model: modelRef,
      newEventId: () => this.ids.next(),
      device: this.deviceId,
      log: this.log,
      bus: this.bus,
      camera: this.camera,
      inferenceTimeoutMs: cfg.pipeline.inferenceTimeoutMs,
      gate: (frame) => this.adaptation?.gate(frame) ?? true,
      prefetch: this.opts.mode === 'lossless',
      reloadBackend: async () => {
        this.bus.emit('restart', { component: 'backend', camera: this.camera, reason: 'inference timed out or failed repeatedly' });
        const b = await this.reloadBackend();
        this.bus.emit('model', { camera: this.camera, model: this.modelRef(), inferenceThread: b.runsIn?.() ?? 'main' });
        return b;
      },
    });
    sup.attach(this.pipeline.stats, `${manifest.name}/${opened.variant.name}`, opened.backend.accelerator(), this.source.describe());
    this.bus.emit('model', { camera: this.camera, model: modelRef, inferenceThread: opened.backend.runsIn?.() ?? 'main' });
    this.adaptation = this.buildAdaptation();
    this.adaptation.start();
    this.log.info(
      { source: this.source.describe(), decoderThreads: decoding, packing: `${packer.usesSimd ? 'wasm-simd' : 'js'} in the ${opened.backend.packsFrames?.() ? 'inference thread' : 'frame loop'}`, inferenceThreads: cfg.model.threads, model: `${manifest.name}/${opened.variant.name}`, accelerator: opened.backend.accelerator(), outputs: Object.keys(cfg.outputs), rules: cfg.rules.map((r) => r.name) },
      'agent started',
    );
  }

  /** Motion gate and governor; the governor moves only between runnable variants with the same input size. */
  private buildAdaptation(): Adaptation {
    const c = this.choice!;
    const shape = JSON.stringify(c.opened.input.shape);
    const runnable = (this.selection?.ranking ?? [c.opened.variant.name]).filter((n) => {
      const v = c.manifest.variants.find((x) => x.name === n);
      return v && JSON.stringify(variantInput(c.manifest, v).shape) === shape;
    });
    // Heaviest first: by accuracy, then by latency (slowest first).
    const byWeight = [...runnable].sort((a, b) => weight(c.manifest, b) - weight(c.manifest, a));
    return new Adaptation({
      cfg: this.cfg,
      log: this.log,
      stats: this.pipeline!.stats,
      variants: byWeight.length ? byWeight : [c.opened.variant.name],
      running: c.opened.variant.name,
      switchVariant: (name) => this.switchVariant(name),
      thermal: () => this.opts.drivers.thermal(),
      energyPerInferenceJ: () => {
        const v = this.choice!.opened.variant;
        const ms = this.pipeline!.stats.stages.inference.mean();
        const flops = this.host!.knownFlops(v.name);
        return flops && ms ? this.opts.drivers.energyPerInferenceJ(c.profile, v.accelerator, ms, flops) : undefined;
      },
      sourceFps: this.source?.fps(),
    });
  }

  /** Opens another variant of the same model and swaps it into the running loop. */
  private async switchVariant(name: string): Promise<void> {
    const c = this.choice!;
    const v = c.manifest.variants.find((x) => x.name === name);
    if (!v) throw new AgentError('INTERNAL', `variant ${name} vanished from the manifest`);
    const { opened } = await this.host!.swap(name);
    const info = opened.backend.inputs().find((i) => i.name === opened.input.name);
    const old = this.pipeline!.swapModel({
      backend: opened.backend,
      packer: new TensorPacker(opened.input, { quant: info?.quant }),
      model: { name: c.manifest.name, variant: v.name, sha256: v.sha256, accelerator: opened.backend.accelerator() },
    });
    // The frame in flight may still be using the old session: release it a little later.
    void this.host!.release(old, 2_000);
    this.bus.emit('model', { camera: this.camera, model: this.modelRef(), inferenceThread: opened.backend.runsIn?.() ?? 'main' });
    this.hub?.setStatus(this.statusSummary());
  }

  /** The run summary's counts, from the bus tally (the same numbers /healthz and the MQTT status give). */
  private counts(): Pick<RunSummary, 'events' | 'eventsFailed' | 'pulses' | 'dropped' | 'restarts' | 'sinkFailures'> {
    const t = this.tally.snapshot();
    return { events: t.events.queued, eventsFailed: t.events.failed, pulses: t.pulses, dropped: t.dropped.latest, restarts: t.restarts, sinkFailures: t.sinkFailures };
  }

  /** http://host:port of /healthz and /metrics while running (health.enabled). */
  healthUrl(): string | undefined {
    return this.supervision?.health.url();
  }

  private modelRef(): ModelRef {
    const c = this.choice!;
    return { name: c.manifest.name, variant: c.opened.variant.name, sha256: c.opened.variant.sha256, accelerator: c.opened.backend.accelerator() };
  }

  /** Every reduced mode now in force, as "component: reason" (the model's fallback, the governor, bus reports). */
  private degradedList(): string[] {
    const c = this.choice;
    return [
      ...(c?.degraded ? [c.degraded] : []),
      ...(this.adaptation?.changes.length ? [`governor: ${this.adaptation.changes.at(-1)!.reason}`] : []),
      ...[...this.degradedBy].map(([component, reason]) => `${component}: ${reason}`),
    ];
  }

  /** What the retained MQTT status and /healthz say about this device. */
  private statusSummary(): Record<string, unknown> {
    const c = this.choice;
    const p = c?.profile;
    return {
      hardware: p ? { board: p.board.family, model: p.board.model, accelerators: p.accelerators.map((a) => a.kind + (a.bus ? `/${a.bus}` : '')) } : undefined,
      model: c ? { name: c.manifest.name, variant: c.opened.variant.name, sha256: c.opened.variant.sha256, accelerator: c.opened.backend.accelerator(), inferenceThread: c.opened.backend.runsIn?.() ?? 'main' } : undefined,
      degraded: this.degradedList(),
      counts: this.tally.snapshot(),
    };
  }

  /** Runs the loop to the end of a finite source (or until stop()); waits for pulses already scheduled. */
  async run(): Promise<RunSummary> {
    const p = this.pipeline;
    if (!p) throw new AgentError('INTERNAL', 'run() before start()');
    this.t0 = performance.now();
    await p.run();
    const seconds = (performance.now() - this.t0) / 1000;
    const wait = this.lastPulseEnd - performance.now();
    if (wait > 0) {
      this.log.info({ waitMs: Math.round(wait) }, 'waiting for scheduled output pulses');
      await new Promise((r) => setTimeout(r, wait + 20));
    }
    return this.summary(seconds);
  }

  summary(seconds = (performance.now() - this.t0) / 1000): RunSummary {
    const p = this.pipeline!;
    const c = this.choice!;
    return {
      frames: p.stats.frames,
      seconds,
      fps: seconds > 0 ? p.stats.frames / seconds : 0,
      firings: p.stats.firings,
      ...this.counts(),
      skipped: p.stats.skippedByGate,
      ...(this.adaptation?.motionStats().energySavedJ !== undefined ? { energySavedJ: this.adaptation.motionStats().energySavedJ } : {}),
      stages: p.stats.summary(),
      model: { name: c.manifest.name, variant: c.opened.variant.name, sha256: c.opened.variant.sha256, accelerator: c.opened.backend.accelerator() },
      inferenceThread: c.opened.backend.runsIn?.() ?? 'main',
      packing: c.opened.backend.packsFrames?.() ? 'inference thread' : 'frame loop',
      source: this.source?.describe() ?? '',
    };
  }

  /**
   * SIGHUP: re-reads the config file and applies rules and thresholds without touching camera, model or outputs.
   * A config that does not validate is refused and the running one kept. Returns what happened, for the log.
   */
  async reload(): Promise<{ applied: boolean; message: string }> {
    const file = this.opts.loaded.path;
    if (!file || !this.pipeline) return { applied: false, message: 'nothing to reload (built-in config or not started)' };
    this.supervision?.reloading();
    let next: LoadedConfig;
    try {
      next = await loadConfigFileOffThread(file); // H22: parsed on a worker thread, never on the frame loop
      if (!this.pipeline) return { applied: false, message: 'stopped while the config was read' };
    } catch (err) {
      this.supervision?.reloaded('new config refused; running on the previous one');
      return { applied: false, message: `new config refused, the running one is kept: ${messageOf(err)}` };
    }
    const restartNeeded = (['source', 'model', 'outputs', 'events', 'health', 'device'] as const).filter((k) => JSON.stringify(next.config[k]) !== JSON.stringify(this.cfg[k]));
    this.pipeline.replaceRules(new RuleEngine(next.config.rules, this.log));
    this.cfg.rules = next.config.rules;
    const note = restartNeeded.length ? `; changes to ${restartNeeded.join(', ')} need a restart (systemctl restart edge-agent)` : '';
    this.supervision?.reloaded('configuration reloaded');
    return { applied: true, message: `rules reloaded (${next.config.rules.map((r) => r.name).join(', ') || 'none'})${note}` };
  }

  /** Stops taking frames; the loop finishes the frame in flight. /healthz turns 503, systemd hears STOPPING. */
  requestStop(): void {
    this.supervision?.stopping();
    this.pipeline?.stop();
  }

  /**
   * Undoes start() in reverse order: source, outputs safe, sinks flushed, model closed. With `drainMs`, first
   * waits that long for queued events to be acknowledged upstream (a finite run); whatever is not stays in the
   * outbox for the next start.
   */
  async stop(drainMs = 0): Promise<void> {
    this.adaptation?.stop();
    this.pipeline?.stop();
    await this.source?.stop().catch((err) => this.log.error({ err }, 'source stop failed'));
    await this.bank?.stop().catch((err) => this.log.error({ err }, 'outputs stop failed'));
    if (drainMs > 0) {
      for (const s of this.hub?.sinks ?? []) {
        const drained = (s as { drained?: (ms: number) => Promise<void> }).drained;
        if (drained) await drained.call(s, drainMs).catch((err: unknown) => this.log.warn({ reason: messageOf(err) }, 'events stay in the outbox for the next run'));
      }
    }
    // The last retained status carries the final counts (the same as the run summary's).
    this.pipeline?.syncSource();
    this.hub?.setStatus(this.statusSummary());
    await this.hub?.stop().catch((err) => this.log.error({ err }, 'event sinks stop failed'));
    await this.pipeline?.currentBackend().close().catch(() => undefined);
    // Every session the model host opened (the running one, one being swapped out) is closed.
    await this.host?.close().catch(() => undefined);
    await this.supervision?.stop().catch(() => undefined);
  }

  private outputsPort(): OutputsPort {
    const bank = this.bank!;
    const count = (o: ActionOutcome): ActionOutcome => {
      if (o.type !== 'event') this.bus.emit('actuation', { camera: this.camera, outcome: o });
      return o;
    };
    return {
      pulse: async (name, req) => {
        this.lastPulseEnd = Math.max(this.lastPulseEnd, req.dueMono + req.widthMs);
        return count(await bank.pulse(name, req));
      },
      hold: async (name, req) => count(await bank.hold(name, req)),
      heartbeat: () => bank.heartbeat(),
    };
  }

  private async reloadBackend() {
    return this.host!.reload();
  }

}

function outboxDepth(hub: EventHub | undefined): number | undefined {
  const mqtt = (hub?.stats().sinks as Record<string, { outbox?: { queued?: number } }> | undefined)?.mqtt;
  return typeof mqtt?.outbox?.queued === 'number' ? mqtt.outbox.queued : undefined;
}

function weight(m: LoadedManifest, name: string): number {
  const v: VariantSpec | undefined = m.variants.find((x) => x.name === name);
  const lat = Object.values(v?.latencyMs ?? {})[0] ?? 0;
  return (v?.accuracy?.mAP50 ?? 0) * 1000 + lat;
}
