import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { deviceIdFromMachineId } from './device-id.js';
import type { Logger } from './log.js';
import { AgentError, messageOf } from './errors.js';
import type { AgentConfig } from './config/schema.js';
import { estimateDecisionLatencyMs, pulseDelayWarnings } from './actuators/delay-check.js';
import { configPath, loadConfigFile, loadConfigFileOffThread, type LoadedConfig } from './config/load.js';
import { loadManifest, variantInput, type LoadedManifest, type VariantSpec } from './model/manifest.js';
import { decoderThreads } from './model/inference-thread.js';
import type { ModelHost, ModelChoice } from './model/host.js';
import { TensorPacker } from './preprocess/tensor.js';
import type { Pipeline } from './pipeline/pipeline.js';
import { MediaTime } from './pipeline/media-time.js';
import type { LoopObserver, OutputsPort } from './pipeline/ports.js';
import { OutputBank } from './actuators/index.js';
import { ledgerDir } from './actuators/ledger.js';
import { EventHub } from './events/hub.js';
import { createEventHub } from './events/registry.js';
import { Supervision } from './supervision.js';
import { UuidV7 } from './events/uuidv7.js';
import type { ActionOutcome, InferenceBackend, ModelRef } from './types.js';
import type { AgentDrivers } from './ports.js';
import { Adaptation } from './adaptation.js';
import { EventBus } from './bus.js';
import { Tally, type TallySnapshot } from './health/tally.js';
import { version } from './version.js';
import type { SelectionResult } from './select/index.js';
import { StatusWiring } from './app/status-wiring.js';
import { cameraSpecs, type CameraSpec } from './config/sections/cameras.js';
import { CameraRuntime } from './cameras/runtime.js';
import { FairShare } from './cameras/fair-share.js';

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
  /** Features started after the outputs and stopped before them (the farm: agent/app/farm-wiring.ts). */
  extensions?: AgentExtension[];
}

/** A feature that listens on the bus and drives outputs; it must stop before the outputs go safe. */
export interface AgentExtension {
  /** `now`: the wall clock the outputs are timed on when it is not the real one (a replay's media time). */
  start(ctx: { bus: EventBus; outputs: OutputBank; now?: () => number }): Promise<void>;
  stop(): Promise<void>;
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
  /** Decoder messages saying the input was damaged or truncated (a file cut half-way): its frames there are missing. */
  inputErrors: number;
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
  /** A replay (--until-eof) judged in the clip's media time: how much of the clip, and what the outputs were timed on. */
  replay?: { mediaSeconds: number; outputs: 'media time' | 'wall time' };
  /** Per camera (the config's names; "default" for the single `source:` form): frames, events, dropped, restarts. */
  cameras: Record<string, { frames: number; fps: number; events: number; dropped: number; restarts: number }>;
  /** Model hosts opened (one per model the cameras name; cameras naming one model share its host and backend). */
  modelHosts: number;
}

/** One model the cameras name: its host (one session, one accelerator) and the fair share of it the cameras take. */
interface ModelGroup {
  name: string;
  host: ModelHost;
  choice: ModelChoice;
  share: FairShare;
  reloading?: Promise<InferenceBackend>;
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
  /** One runtime per camera (source, frame loop, rules), each with its own failure boundary. */
  readonly cameras: CameraRuntime[] = [];
  private readonly specs: CameraSpec[];
  /** Model groups by model name ("default" = the `model:` section). */
  private readonly groups = new Map<string, ModelGroup>();
  private t0 = 0;
  private lastPulseEnd = 0;
  /** Everything the agent reports about itself; metrics, /healthz, the summary and the MQTT status listen. */
  readonly bus: EventBus;
  readonly tally: Tally;
  /** Reduced modes reported on the bus (`degraded`), by component. */
  private readonly degradedBy = new Map<string, string>();
  private readonly ids = new UuidV7();
  private supervision: Supervision | undefined;
  private host: ModelHost | undefined;
  private adaptation: Adaptation | undefined;
  /** A file read in full (--until-eof) is decided in its own media time (pipeline/media-time.ts). */
  private readonly media: MediaTime | undefined;
  private status: StatusWiring | undefined;

  constructor(private readonly opts: AgentOptions) {
    this.cfg = opts.loaded.config;
    this.log = opts.log;
    this.specs = cameraSpecs(this.cfg);
    // One file read in full (--until-eof) is decided in its own media time. Several cameras' clips have a clock each,
    // which one output bank cannot follow: they replay on the wall clock.
    this.media = opts.mode === 'lossless' && this.specs.length === 1 ? new MediaTime(Date.now()) : undefined;
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
    return this.cfg.device.id ?? deviceIdFromMachineId() ?? hostname().replace(/[^A-Za-z0-9._-]/g, '-');
  }

  model(): ModelChoice | undefined {
    return this.choice;
  }

  /** The first camera's frame loop (the single-camera view: stats, swap). */
  get pipeline(): Pipeline | undefined {
    return this.cameras[0]?.pipeline;
  }

  /** Model hosts this agent opened (one per model the cameras name). */
  modelHosts(): number {
    return this.groups.size;
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
      build: { version, node: process.versions.node, arch: process.arch },
      onRefresh: () => this.hub?.setStatus(this.statusSummary()),
    });
    await this.supervision.start();
    this.bus.on('degraded', 'agent', ({ component, reason }) => {
      if (reason) this.degradedBy.set(component, reason);
      else this.degradedBy.delete(component);
      this.hub?.setStatus(this.statusSummary());
    });
    this.supervision.health.provide(() => ({ counts: this.tally.snapshot(), degraded: this.degradedList() }));
    // One model host per model the cameras name: cameras naming one model share its session (one Coral opens once).
    for (const name of new Set(this.specs.map((c) => c.model))) await this.openModel(name);
    const main = this.groups.get(this.specs[0]!.model)!;
    this.host = main.host;
    this.choice = main.choice;
    this.selection = this.host.selection;
    // FLOPs feed only the energy the motion gate saves: counted (reading the ONNX graphs) only when it is on.
    if (cfg.pipeline.motionGate.enabled) for (const v of this.choice.manifest.variants) await this.host.flopsOf(v.name);
    const { opened, manifest } = this.choice;
    // a pulse delay the decision cannot meet would make every pulse "missed": say so at start, with the number.
    for (const w of pulseDelayWarnings(cfg.rules, estimateDecisionLatencyMs(opened.knownAnswer?.latencyMs))) this.log.warn({ rule: w.rule, output: w.output, delayMs: w.delayMs, latencyMs: w.latencyMs }, w.message);
    const modelRef: ModelRef = { name: manifest.name, variant: opened.variant.name, sha256: opened.variant.sha256, accelerator: opened.backend.accelerator() };

    // Sinks first: a networked (MQTT) relay output publishes through the event sink's connection.
    const events = { ...cfg.events, ...(cfg.events.jsonl ? { jsonl: configPath(this.opts.loaded, cfg.events.jsonl) } : {}) };
    this.hub = await createEventHub(events, {
        deviceId: this.deviceId,
        deviceName: cfg.device.name,
        stateDir: this.opts.stateDir,
        log: this.log,
        swVersion: version,
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
      // A replay's simulated outputs are timed in the clip's media time, in-process (never sleeping for real).
      ...(this.media && this.opts.simulateOutputs ? { clock: this.media, timers: this.media } : {}),
      ...(publish ? { publish: (topic: string, payload: string, o: { qos: 0 | 1 | 2; retain: boolean }) => publish(topic, payload, o) } : {}),
    });
    await this.bank.start();
    const media = this.media && this.opts.simulateOutputs ? this.media : undefined;
    for (const x of this.opts.extensions ?? []) await x.start({ bus: this.bus, outputs: this.bank, ...(media ? { now: () => media.wall() } : {}) });

    for (const spec of this.specs) {
      const g = this.groups.get(spec.model)!;
      g.share.lane(spec.name); // its turn in the round-robin, in config order
      const cam = new CameraRuntime(spec, {
        cfg,
        log: this.log,
        bus: this.bus,
        drivers: this.opts.drivers,
        mode: this.opts.mode,
        model: () => g.choice,
        lane: () => g.share.lane(spec.name),
        modelRef: () => groupRef(g),
        events: this.hub,
        outputs: this.outputsPort(spec.name),
        device: this.deviceId,
        newEventId: () => this.ids.next(),
        // The motion gate and the governor follow the first camera (they are one per agent for now).
        gate: (camera) => (camera === this.specs[0]!.name ? (frame) => this.adaptation?.gate(frame) ?? true : undefined),
        resolveSource: (s) => resolveSource(this.opts.loaded, s),
        reloadBackend: () => this.reloadGroup(g, spec.name),
        ...(this.media ? { media: { clock: this.media, outputs: Boolean(this.opts.simulateOutputs) } } : {}),
      });
      this.cameras.push(cam);
    }
    // One camera: its source failing to open stops the start, as it always did. Several: that camera's error, the others run.
    const several = this.cameras.length > 1;
    for (const cam of this.cameras) {
      try {
        await cam.start();
      } catch (err) {
        if (!several) throw err;
        cam.lastError = messageOf(err);
        this.log.error({ camera: cam.name, reason: cam.lastError }, `camera ${cam.name} could not start: ${cam.lastError}; it restarts alone with backoff, the other cameras run`);
      }
    }
    const first = this.cameras.find((c) => c.pipeline) ?? this.cameras[0]!;
    const decoding = decoderThreads(cfg.model.threads, opened.backend.runsIn?.() ?? 'main');
    const packer = new TensorPacker(opened.input, { quant: opened.backend.inputs().find((i) => i.name === opened.input.name)?.quant });
    const sup = this.supervision;
    if (first.pipeline) sup.attach(first.pipeline.stats, `${manifest.name}/${opened.variant.name}`, opened.backend.accelerator(), first.source?.describe() ?? '');
    for (const cam of this.cameras) this.bus.emit('model', { camera: cam.name, model: groupRef(this.groups.get(cam.spec.model)!), inferenceThread: opened.backend.runsIn?.() ?? 'main' });
    this.adaptation = this.buildAdaptation();
    this.adaptation.start();
    this.status = new StatusWiring({ cfg, loaded: this.opts.loaded, log: this.log, agent: this });
    this.status.start(
      sup.health,
      this.cameras.flatMap((c) => {
        const g = c.source?.geometry();
        return g ? [{ name: c.name, describe: c.source!.describe(), width: g.srcWidth, height: g.srcHeight }] : [];
      }),
    );
    this.log.info(
      { cameras: this.cameras.map((c) => c.name), source: first.source?.describe(), decoderThreads: decoding, packing: `${packer.usesSimd ? 'wasm-simd' : 'js'} in the ${opened.backend.packsFrames?.() ? 'inference thread' : 'frame loop'}`, inferenceThreads: cfg.model.threads, model: `${manifest.name}/${opened.variant.name}`, accelerator: opened.backend.accelerator(), outputs: Object.keys(cfg.outputs), rules: cfg.rules.map((r) => r.name) },
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
      stats: this.cameras[0]!.pipeline?.stats ?? this.cameras.find((x) => x.pipeline)!.pipeline!.stats,
      variants: byWeight.length ? byWeight : [c.opened.variant.name],
      running: c.opened.variant.name,
      switchVariant: (name) => this.switchVariant(name),
      thermal: () => this.opts.drivers.thermal(),
      energyPerInferenceJ: () => {
        const v = this.choice!.opened.variant;
        const ms = this.pipeline?.stats.stages.inference.mean();
        const flops = this.host!.knownFlops(v.name);
        return flops && ms ? this.opts.drivers.energyPerInferenceJ(c.profile, v.accelerator, ms, flops) : undefined;
      },
      sourceFps: this.cameras[0]?.source?.fps(),
    });
  }

  /** Opens another variant of the same model and swaps it into the running loop. */
  private async switchVariant(name: string): Promise<void> {
    const c = this.choice!;
    const v = c.manifest.variants.find((x) => x.name === name);
    if (!v) throw new AgentError('INTERNAL', `variant ${name} vanished from the manifest`);
    const g = this.groups.get(this.specs[0]!.model)!;
    const { opened } = await g.host.swap(name);
    const info = opened.backend.inputs().find((i) => i.name === opened.input.name);
    // Every camera on this model moves to the new session together (their lanes now lead to it).
    const old = g.share.replace(opened.backend);
    for (const cam of this.cameras.filter((x) => x.spec.model === g.name)) {
      cam.pipeline?.swapModel({
        backend: g.share.lane(cam.name),
        packer: new TensorPacker(opened.input, { quant: info?.quant }),
        model: { name: c.manifest.name, variant: v.name, sha256: v.sha256, accelerator: opened.backend.accelerator() },
      });
      this.bus.emit('model', { camera: cam.name, model: this.modelRef(), inferenceThread: opened.backend.runsIn?.() ?? 'main' });
    }
    // The frames in flight may still be using the old session: release it a little later.
    void g.host.release(old, 2_000);
    this.hub?.setStatus(this.statusSummary());
  }

  /** The run summary's counts, from the bus tally (the same numbers /healthz and the MQTT status give). */
  private counts(): Pick<RunSummary, 'events' | 'eventsFailed' | 'pulses' | 'dropped' | 'restarts' | 'sinkFailures'> {
    const t = this.tally.snapshot();
    return { events: t.events.queued, eventsFailed: t.events.failed, pulses: t.pulses, dropped: t.dropped.latest, restarts: t.restarts, sinkFailures: t.sinkFailures };
  }

  /** The status page's feed while it is served (status.enabled and health.enabled). */
  statusFeed() {
    return this.status?.feed;
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
    if (!this.cameras.length) throw new AgentError('INTERNAL', 'run() before start()');
    this.t0 = performance.now();
    // Several cameras: each restarts alone on failure. One camera runs as it always did (a failure ends the run).
    const several = this.cameras.length > 1;
    await Promise.all(this.cameras.map((c) => c.run(several)));
    const seconds = (performance.now() - this.t0) / 1000;
    if (this.media && this.opts.simulateOutputs) await this.media.drain(); // pulses due after the last frame, in media time
    const wait = this.media && this.opts.simulateOutputs ? 0 : this.lastPulseEnd - performance.now();
    if (wait > 0) {
      this.log.info({ waitMs: Math.round(wait) }, 'waiting for scheduled output pulses');
      await new Promise((r) => setTimeout(r, wait + 20));
    }
    return this.summary(seconds);
  }

  summary(seconds = (performance.now() - this.t0) / 1000): RunSummary {
    const p = this.pipeline ?? this.cameras.find((x) => x.pipeline)!.pipeline!;
    const c = this.choice!;
    const frames = this.cameras.reduce((n, x) => n + x.frames(), 0);
    const t = this.tally.snapshot();
    return {
      frames,
      seconds,
      fps: seconds > 0 ? frames / seconds : 0,
      firings: this.cameras.reduce((n, x) => n + (x.pipeline?.stats.firings ?? 0), 0),
      ...this.counts(),
      skipped: this.cameras.reduce((n, x) => n + (x.pipeline?.stats.skippedByGate ?? 0), 0),
      inputErrors: this.cameras.reduce((n, x) => n + (x.source?.stats().inputErrors ?? 0), 0),
      ...(this.adaptation?.motionStats().energySavedJ !== undefined ? { energySavedJ: this.adaptation.motionStats().energySavedJ } : {}),
      stages: p.stats.summary(),
      model: { name: c.manifest.name, variant: c.opened.variant.name, sha256: c.opened.variant.sha256, accelerator: c.opened.backend.accelerator() },
      inferenceThread: c.opened.backend.runsIn?.() ?? 'main',
      packing: c.opened.backend.packsFrames?.() ? 'inference thread' : 'frame loop',
      source: this.cameras.map((x) => x.source?.describe() ?? x.spec.source.type).join('; '),
      ...(this.media ? { replay: { mediaSeconds: this.media.reachedMs / 1000, outputs: this.opts.simulateOutputs ? 'media time' : 'wall time' } } : {}),
      cameras: Object.fromEntries(
        this.cameras.map((x) => {
          const k = t.cameras[x.name];
          const n = x.frames();
          return [x.name, { frames: n, fps: seconds > 0 ? n / seconds : 0, events: k?.events ?? 0, dropped: k?.dropped ?? 0, restarts: x.failures }];
        }),
      ),
      modelHosts: this.groups.size,
    };
  }

  /**
   * SIGHUP: re-reads the config file and applies rules and thresholds without touching camera, model or outputs.
   * A config that does not validate is refused and the running one kept. Returns what happened, for the log.
   */
  async reload(): Promise<{ applied: boolean; message: string }> {
    const file = this.opts.loaded.path;
    if (!file || !this.cameras.length) return { applied: false, message: 'nothing to reload (built-in config or not started)' };
    this.supervision?.reloading();
    let next: LoadedConfig;
    try {
      next = await loadConfigFileOffThread(file); // parsed on a worker thread, never on the frame loop
      if (!this.cameras.length) return { applied: false, message: 'stopped while the config was read' };
    } catch (err) {
      this.supervision?.reloaded('new config refused; running on the previous one');
      return { applied: false, message: `new config refused, the running one is kept: ${messageOf(err)}` };
    }
    const restartNeeded = (['source', 'model', 'outputs', 'events', 'health', 'device', 'status', 'sensors', 'irrigation'] as const).filter((k) => JSON.stringify(next.config[k]) !== JSON.stringify(this.cfg[k]));
    // Each camera takes its own rules from the new config (a camera added or removed needs a restart).
    const nextSpecs = new Map(cameraSpecs(next.config).map((c) => [c.name, c]));
    if (JSON.stringify([...nextSpecs.values()].map((c) => [c.name, c.source, c.model])) !== JSON.stringify(this.specs.map((c) => [c.name, c.source, c.model]))) restartNeeded.push('cameras' as never);
    for (const cam of this.cameras) {
      const n = nextSpecs.get(cam.name);
      if (n) cam.replaceRules(n.rules);
    }
    this.cfg.rules = next.config.rules;
    const note = restartNeeded.length ? `; changes to ${restartNeeded.join(', ')} need a restart (systemctl restart edge-agent)` : '';
    this.supervision?.reloaded('configuration reloaded');
    return { applied: true, message: `rules reloaded (${next.config.rules.map((r) => r.name).join(', ') || 'none'})${note}` };
  }

  /** Stops taking frames; the loop finishes the frame in flight. /healthz turns 503, systemd hears STOPPING. */
  requestStop(): void {
    this.supervision?.stopping();
    for (const c of this.cameras) c.requestStop();
  }

  /**
   * Undoes start() in reverse order: source, outputs safe, sinks flushed, model closed. With `drainMs`, first
   * waits that long for queued events to be acknowledged upstream (a finite run); whatever is not stays in the
   * outbox for the next start.
   */
  async stop(drainMs = 0): Promise<void> {
    this.adaptation?.stop();
    for (const c of this.cameras) c.requestStop();
    await Promise.all(this.cameras.map((c) => c.stop()));
    for (const x of [...(this.opts.extensions ?? [])].reverse()) await x.stop().catch((err) => this.log.error({ err }, 'extension stop failed'));
    await this.bank?.stop().catch((err) => this.log.error({ err }, 'outputs stop failed'));
    if (drainMs > 0) {
      for (const s of this.hub?.sinks ?? []) {
        const drained = (s as { drained?: (ms: number) => Promise<void> }).drained;
        if (drained) await drained.call(s, drainMs).catch((err: unknown) => this.log.warn({ reason: messageOf(err) }, 'events stay in the outbox for the next run'));
      }
    }
    // The last retained status carries the final counts (the same as the run summary's).
    for (const c of this.cameras) c.pipeline?.syncSource();
    this.hub?.setStatus(this.statusSummary());
    await this.hub?.stop().catch((err) => this.log.error({ err }, 'event sinks stop failed'));
    // Every session the model hosts opened (the running one, one being swapped out) is closed.
    for (const g of this.groups.values()) await g.host.close().catch(() => undefined);
    await this.status?.stop().catch(() => undefined);
    await this.supervision?.stop().catch(() => undefined);
  }

  /** The outputs as one camera drives them (its actuations are counted under its name). */
  private outputsPort(camera: string): OutputsPort {
    const bank = this.bank!;
    const count = (o: ActionOutcome): ActionOutcome => {
      if (o.type !== 'event') this.bus.emit('actuation', { camera, outcome: o });
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

  /** Opens the model a camera names (once per name): "default" is `model:`, others are under `models:`. */
  private async openModel(name: string): Promise<ModelGroup> {
    const cfg = this.cfg;
    const settings = name === 'default' ? cfg.model : cfg.models![name]!;
    const manifest = loadManifest(configPath(this.opts.loaded, settings.manifest), { allowedRoots: (settings.allowedRoots ?? []).map((r) => configPath(this.opts.loaded, r)) });
    const host = this.opts.drivers.modelHost({ manifest, settings, stateDir: this.opts.stateDir, job: this.opts.mode === 'lossless' ? 'file' : 'live', log: this.log.child({ model: name }) });
    const choice = await host.open();
    const g: ModelGroup = { name, host, choice, share: new FairShare(choice.opened.backend) };
    this.groups.set(name, g);
    return g;
  }

  /**
   * A fresh session behind every camera of the model (a hung or failed call): the camera that asked gets its new
   * lane back, the others are moved to theirs. A camera whose failed call was queued at a session already replaced
   * gets its current lane, and nothing restarts again.
   */
  private async reloadGroup(g: ModelGroup, camera: string): Promise<InferenceBackend> {
    const asking = this.cameras.find((c) => c.name === camera);
    const uses = asking?.pipeline?.currentBackend();
    if (g.reloading) {
      await g.reloading;
      return g.share.lane(camera);
    }
    if (uses && uses !== g.share.lane(camera)) return g.share.lane(camera);
    this.bus.emit('restart', { component: 'backend', camera, reason: 'inference timed out or failed repeatedly' });
    g.reloading = (async () => {
      const fresh = await g.host.reload(); // the host releases the old session once its call ends
      g.share.replace(fresh);
      g.choice = g.host.running() ?? g.choice;
      const opened = g.choice.opened;
      const info = opened.backend.inputs().find((i) => i.name === opened.input.name);
      for (const cam of this.cameras) {
        if (cam.spec.model !== g.name) continue;
        if (cam.name !== camera) cam.pipeline?.swapModel({ backend: g.share.lane(cam.name), packer: new TensorPacker(opened.input, { quant: info?.quant }), model: groupRef(g) });
        this.bus.emit('model', { camera: cam.name, model: groupRef(g), inferenceThread: fresh.runsIn?.() ?? 'main' });
      }
      return fresh;
    })().finally(() => {
      g.reloading = undefined;
    });
    await g.reloading;
    return g.share.lane(camera);
  }

}

function groupRef(g: ModelGroup): ModelRef {
  const o = g.choice.opened;
  return { name: g.choice.manifest.name, variant: o.variant.name, sha256: o.variant.sha256, accelerator: o.backend.accelerator() };
}

/** Paths in the config are relative to the config file, like every other path in it. */
function resolveSource(loaded: LoadedConfig, s: CameraSpec['source']): CameraSpec['source'] {
  return s.type === 'file' ? { ...s, path: configPath(loaded, s.path) } : s.type === 'images' ? { ...s, dir: configPath(loaded, s.dir) } : s;
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
