import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { deviceIdFromMachineId } from './device-id.js';
import type { Logger } from './log.js';
import { AgentError, isAgentError, messageOf } from './errors.js';
import type { AgentConfig } from './config/schema.js';
import { configPath, loadConfigFile, type LoadedConfig } from './config/load.js';
import { loadManifest, manifestPath, variantInput, type LoadedManifest, type VariantSpec } from './model/manifest.js';
import { decoderThreads, packInInferenceThread, resolveInferenceThread, resolvePinning, type InferenceThreadChoice, type PinChoice } from './model/inference-thread.js';
import { allowedCpus } from '../drivers/inference/affinity.js';
import { openVariant, type BackendFactory, type OpenedVariant, type OpenOptions } from './model/open-variant.js';
import { TensorPacker } from './preprocess/tensor.js';
import { inputSize } from './preprocess/geometry.js';
import { prepareDecoder } from './decode/index.js';
import { feedbackPairs } from './decode/common.js';
import { StatefulBackend } from '../drivers/inference/tflite/stateful.js';
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
import { createSource } from '../drivers/camera/index.js';
import { createBackend } from '../drivers/inference/registry.js';
import { acceleratorPowerClass, energyPerInferenceJ, powerClassOf } from '../drivers/probe/index.js';
import { Sysroot } from '../drivers/probe/sysroot.js';
import { probeThermal } from '../drivers/probe/thermal.js';
import { Adaptation } from './adaptation.js';
import { verifyWalk, walkCandidates, type HardwareProfile, type SelectionResult } from './select/index.js';
import { chooseVariant } from './model/choose.js';

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
}

export interface ModelChoice {
  manifest: LoadedManifest;
  profile: HardwareProfile;
  opened: OpenedVariant;
  /** Variants tried before the one running, with the reason each was passed over. */
  passedOver: Array<{ variant: string; reason: string }>;
  degraded?: string;
}

export interface RunSummary {
  frames: number;
  seconds: number;
  fps: number;
  events: number;
  firings: number;
  pulses: { scheduled: number; missed: number; refused: number; failed: number };
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
  private pulses = { scheduled: 0, missed: 0, refused: 0, failed: 0 };
  private readonly ids = new UuidV7();
  private supervision: Supervision | undefined;
  private backendFactory: BackendFactory = createBackend;
  private inferenceThread: InferenceThreadChoice = { thread: 'worker', reason: 'default' };
  private pinning: PinChoice = { reason: 'not resolved yet' };
  private adaptation: Adaptation | undefined;

  constructor(private readonly opts: AgentOptions) {
    this.cfg = opts.loaded.config;
    this.log = opts.log;
  }

  get deviceId(): string {
    return this.cfg.device.id ?? deviceIdFromMachineId() ?? hostname().replace(/[^A-Za-z0-9._-]/g, '-');
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
    mkdirSync(this.opts.stateDir, { recursive: true });
    this.supervision = new Supervision(cfg, this.log, { outboxDepth: () => outboxDepth(this.hub) });
    await this.supervision.start();
    this.choice = await this.openModel();
    // FLOPs feed only the energy the motion gate saves: counted (reading the ONNX graphs) only when it is on.
    if (cfg.pipeline.motionGate.enabled) await countMissingFlops(this.choice.manifest);
    const { opened, manifest } = this.choice;
    const modelRef: ModelRef = { name: manifest.name, variant: opened.variant.name, sha256: opened.variant.sha256, accelerator: opened.backend.accelerator() };

    // Sinks first: a networked (MQTT) relay output publishes through the event sink's connection.
    const events = { ...cfg.events, ...(cfg.events.jsonl ? { jsonl: configPath(this.opts.loaded, cfg.events.jsonl) } : {}) };
    this.hub = await createEventHub(events, { deviceId: this.deviceId, deviceName: cfg.device.name, stateDir: this.opts.stateDir, log: this.log }, { mqttUrl: this.opts.mqttUrl, eventsOut: this.opts.eventsOut });
    await this.hub.start();
    this.hub.setStatus(this.statusSummary());
    const publish = this.hub.publisher();

    this.bank = new OutputBank(cfg.outputs, {
      log: this.log,
      simulateJournal: this.opts.simulateOutputs,
      stallMs: cfg.pipeline.stallMs,
      // Simulated outputs spend no real on-time: they neither read nor write the ledger.
      ...(this.opts.simulateOutputs ? {} : { ledgerDir: ledgerDir(this.opts.stateDir) }),
      ...(publish ? { publish: (topic: string, payload: string, o: { qos: 0 | 1 | 2; retain: boolean }) => publish(topic, payload, o) } : {}),
    });
    await this.bank.start();

    // Paths in the config are relative to the config file, like every other path in it.
    const src = cfg.source.type === 'file' ? { ...cfg.source, path: configPath(this.opts.loaded, cfg.source.path) } : cfg.source.type === 'images' ? { ...cfg.source, dir: configPath(this.opts.loaded, cfg.source.dir) } : cfg.source;
    const decoding = decoderThreads(cfg.model.threads, opened.backend.runsIn?.() ?? 'main');
    this.source = createSource(src, { input: opened.input, mode: this.opts.mode, log: this.log, decoderThreads: decoding, planar: opened.input.layout === 'NCHW' });
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
      observer: {
        firstInference: () => {
          sup.firstInference();
          this.opts.observer?.firstInference?.();
        },
        frame: (stages) => {
          sup.frame(stages);
          this.opts.observer?.frame?.(stages);
        },
      },
      inferenceTimeoutMs: cfg.pipeline.inferenceTimeoutMs,
      gate: (frame) => this.adaptation?.gate(frame) ?? true,
      prefetch: this.opts.mode === 'lossless',
      reloadBackend: async () => {
        sup.restarted('backend');
        return this.reloadBackend();
      },
    });
    sup.attach(this.pipeline.stats, `${manifest.name}/${opened.variant.name}`, opened.backend.accelerator(), this.source.describe());
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
    const power = powerClassOf(c.profile) ?? 'x86-desktop';
    return new Adaptation({
      cfg: this.cfg,
      log: this.log,
      stats: this.pipeline!.stats,
      variants: byWeight.length ? byWeight : [c.opened.variant.name],
      running: c.opened.variant.name,
      switchVariant: (name) => this.switchVariant(name),
      thermal: () => readThermal(),
      energyPerInferenceJ: () => {
        const v = this.choice!.opened.variant;
        const ms = this.pipeline!.stats.stages.inference.mean();
        const flops = v.flops ?? flopsCache.get(v.sha256);
        return flops && ms ? energyPerInferenceJ(power, ms, flops, acceleratorPowerClass(c.profile, v.accelerator)) : undefined;
      },
      sourceFps: this.source?.fps(),
    });
  }

  /** Opens another variant of the same model and swaps it into the running loop. */
  private async switchVariant(name: string): Promise<void> {
    const c = this.choice!;
    const v = c.manifest.variants.find((x) => x.name === name);
    if (!v) throw new AgentError('INTERNAL', `variant ${name} vanished from the manifest`);
    const opened = await openVariant(c.manifest, v, this.openOptions(this.cfg.model.verify));
    const info = opened.backend.inputs().find((i) => i.name === opened.input.name);
    const old = this.pipeline!.swapModel({
      backend: opened.backend,
      packer: new TensorPacker(opened.input, { quant: info?.quant }),
      model: { name: c.manifest.name, variant: v.name, sha256: v.sha256, accelerator: opened.backend.accelerator() },
    });
    c.opened = opened;
    // The frame in flight may still be using the old session: release it a little later.
    setTimeout(() => void old.close().catch(() => undefined), 2_000).unref();
    this.supervision?.health.setModel(`${c.manifest.name}/${v.name}`, opened.backend.accelerator());
    this.hub?.setStatus(this.statusSummary());
  }

  /** What the retained MQTT status and /healthz say about this device. */
  private statusSummary(): Record<string, unknown> {
    const c = this.choice;
    const p = c?.profile;
    return {
      hardware: p ? { board: p.board.family, model: p.board.model, accelerators: p.accelerators.map((a) => a.kind + (a.bus ? `/${a.bus}` : '')) } : undefined,
      model: c ? { name: c.manifest.name, variant: c.opened.variant.name, sha256: c.opened.variant.sha256, accelerator: c.opened.backend.accelerator(), inferenceThread: c.opened.backend.runsIn?.() ?? 'main' } : undefined,
      degraded: [...(c?.degraded ? [c.degraded] : []), ...(this.adaptation?.changes.length ? [`governor: ${this.adaptation.changes.at(-1)!.reason}`] : [])],
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
      events: p.stats.events,
      firings: p.stats.firings,
      pulses: { ...this.pulses },
      dropped: this.source?.stats().framesDropped ?? 0,
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
  reload(): { applied: boolean; message: string } {
    const file = this.opts.loaded.path;
    if (!file || !this.pipeline) return { applied: false, message: 'nothing to reload (built-in config or not started)' };
    this.supervision?.reloading();
    let next: LoadedConfig;
    try {
      next = loadConfigFile(file);
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
    await this.hub?.stop().catch((err) => this.log.error({ err }, 'event sinks stop failed'));
    await this.pipeline?.currentBackend().close().catch(() => undefined);
    if (!this.pipeline) await this.choice?.opened.backend.close().catch(() => undefined);
    await this.supervision?.stop().catch(() => undefined);
  }

  private outputsPort(): OutputsPort {
    const bank = this.bank!;
    const count = (o: ActionOutcome): ActionOutcome => {
      if (o.type === 'pulse') {
        if (o.status === 'scheduled') this.pulses.scheduled++;
        else if (o.status === 'missed') this.pulses.missed++;
        else if (o.status === 'refused') this.pulses.refused++;
        else if (o.status === 'failed') this.pulses.failed++;
      }
      this.supervision?.actuation(o);
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

  /**
   * Detects the hardware, scores every variant with U = alpha*accuracy - beta*latency (measured latency from the
   * bench cache when there is one), then opens the best candidate and proves it with the known-answer check,
   * falling back to the next one loudly (log, status, retained MQTT status) when it cannot run.
   */
  private async openModel(): Promise<ModelChoice> {
    const manifest = loadManifest(configPath(this.opts.loaded, this.cfg.model.manifest));
    this.backendFactory = statefulFactory(feedbackPairs(manifest.decoder));
    this.inferenceThread = resolveInferenceThread(this.cfg.model.inferenceThread, undefined, this.opts.mode === 'lossless' ? 'file' : 'live');
    this.pinning = resolvePinning(this.cfg.model.pinInferenceThread, this.inferenceThread.thread, this.cfg.model.threads, allowedCpus());
    const forced = this.cfg.model.variant;
    if (forced && !manifest.variants.some((v) => v.name === forced)) failVariant(manifest, forced);
    const { profile, selection, fileErrors } = await chooseVariant(manifest, { selection: this.cfg.model.selection, stateDir: this.opts.stateDir, only: forced, log: this.log });
    for (const v of selection.variants) this.log.info({ variant: v.name, eligible: v.eligible, score: v.score, latencyMs: v.latencyMs, latencySource: v.latencySource }, `variant ${v.name}: ${v.reason}`);
    this.log.info(selection.summary);
    this.selection = selection;
    if (!selection.selected) {
      // Every file missing or corrupt: the first file's own error names the file and the fix best.
      const candidates = selection.variants.map((v) => v.name);
      if (candidates.length && candidates.every((n) => fileErrors.has(n))) throw fileErrors.get(candidates[0]!);
      throw new AgentError('MODEL_INVALID', `no variant of model ${manifest.name} can run here: ${selection.summary}`, { fix: 'run `edge-agent doctor` to see why each variant was rejected' });
    }
    let opened: OpenedVariant | undefined;
    let firstError: unknown;
    const walk = await verifyWalk(walkCandidates(selection), async (c) => {
      const v = manifest.variants.find((x) => x.name === c.name)!;
      opened = await openVariant(manifest, v, this.openOptions(this.cfg.model.verify)).catch((err: unknown) => {
        firstError ??= err;
        throw err;
      });
      return { ok: true, latencyMs: opened.knownAnswer?.latencyMs };
    });
    const passedOver = walk.attempts.filter((a) => !a.ok).map((a) => ({ variant: a.name, reason: a.reason ?? 'failed' }));
    if (!walk.running || !opened) {
      // Nothing started: the first candidate's own error says what is wrong with this model and how to fix it.
      if (isAgentError(firstError)) throw firstError;
      throw new AgentError('MODEL_INVALID', `no variant of model ${manifest.name} could be started: ${walk.degraded?.reason ?? 'none tried'}`, {
        fix: 'run `edge-agent doctor` to see why each variant was rejected',
      });
    }
    if (opened.variant.name !== walk.running) {
      // A later attempt was "too slow": the walk moved on but this session belongs to an earlier candidate.
      await opened.backend.close().catch(() => undefined);
      opened = await openVariant(manifest, manifest.variants.find((x) => x.name === walk.running)!, this.openOptions(false));
    }
    const degraded = walk.degraded?.reason;
    if (degraded) this.log.warn({ wanted: walk.degraded!.wanted, running: walk.running }, degraded);
    this.logInferenceThread(opened);
    return { manifest, opened, passedOver, degraded, profile };
  }

  /** Says which thread the opened backend really runs its calls in (and the CPU it is pinned to), and why. */
  private logInferenceThread(opened: OpenedVariant): void {
    const runs = opened.backend.runsIn?.() ?? 'main';
    const pin = this.pinning;
    const pinned = opened.backend.pinnedCpu?.();
    const setting = this.cfg.model.pinInferenceThread;
    if (pinned !== undefined) this.log.info({ inferenceCpu: pinned }, `inference thread pinned to CPU ${pinned} (${pin.reason})`);
    else if (pin.cpu !== undefined && opened.variant.runtime !== 'onnxruntime') this.log.info(`inference thread not pinned (model.pinInferenceThread applies to ONNX Runtime's worker, not the ${opened.variant.runtime} runtime's own thread)`);
    else if (pin.cpu === undefined && (runs === 'worker' || setting !== 'auto')) this.log.info(`inference thread not pinned (${pin.reason})`);
    const wanted = this.inferenceThread;
    if (runs === wanted.thread) this.log.info({ inferenceThread: runs }, `inference runs in the ${runs} thread (${wanted.reason})`);
    else if (opened.variant.runtime !== 'onnxruntime') this.log.info({ inferenceThread: runs }, `inference runs in the ${runs} thread (the ${opened.variant.runtime} runtime's own; model.inferenceThread applies to ONNX Runtime)`);
    else this.log.warn({ inferenceThread: runs, wanted: wanted.thread }, `inference runs in the ${runs} thread, not the ${wanted.thread} thread asked for (${wanted.reason}): the compiled worker is missing, run \`npm run build\``);
  }

  private openOptions(verify: boolean): OpenOptions {
    return { threads: this.cfg.model.threads, verify, edgetpuDevice: this.cfg.model.edgetpuDevice, thread: this.inferenceThread.thread, pinCpu: this.pinning.cpu, packInBackend: packInInferenceThread(), log: this.log, createBackend: this.backendFactory };
  }

  private async reloadBackend() {
    const c = this.choice!;
    const fresh = await openVariant(c.manifest, c.opened.variant, this.openOptions(false));
    const old = this.pipeline?.currentBackend();
    // The old session may still be stuck in a call; release it in the background.
    void old?.close().catch(() => undefined);
    c.opened = fresh;
    return fresh.backend;
  }
}

function failVariant(m: LoadedManifest, name: string): never {
  throw new AgentError('CONFIG_INVALID', `model.variant "${name}" is not in ${m.path}`, { fix: `use one of: ${m.variants.map((v) => v.name).join(', ')}` });
}

function outboxDepth(hub: EventHub | undefined): number | undefined {
  const mqtt = (hub?.stats().sinks as Record<string, { outbox?: { queued?: number } }> | undefined)?.mqtt;
  return typeof mqtt?.outbox?.queued === 'number' ? mqtt.outbox.queued : undefined;
}

/** Recurrent models (LSTM state outputs fed back as inputs, named in decoder.params.feedback) get the state wrapper. */
function statefulFactory(pairs: Array<[string, string]>): BackendFactory {
  if (!pairs.length) return createBackend;
  return async (runtime, log) => new StatefulBackend(await createBackend(runtime, log), pairs);
}

function weight(m: LoadedManifest, name: string): number {
  const v: VariantSpec | undefined = m.variants.find((x) => x.name === name);
  const lat = Object.values(v?.latencyMs ?? {})[0] ?? 0;
  return (v?.accuracy?.mAP50 ?? 0) * 1000 + lat;
}

/** Hottest thermal zone and whether the board throttles now (Pi firmware flags), read from sysfs. */
function readThermal(): { tempC?: number; throttled?: boolean } {
  const t = probeThermal(new Sysroot('/'), undefined);
  const temps = t.zones.map((z) => z.tempC).filter((x): x is number => x !== null);
  const now = t.throttled?.now;
  return { ...(temps.length ? { tempC: Math.max(...temps) } : {}), ...(now ? { throttled: now.throttled || now.softTempLimit } : {}) };
}

/** FLOPs counted from an ONNX graph when the manifest does not give them (for the energy estimate), by sha256. */
const flopsCache = new Map<string, number | undefined>();

/**
 * Counts the FLOPs of the ONNX variants whose manifest entry has none, once at start. The ONNX reader
 * (protobufjs and the ONNX schema, a few MB of heap) is loaded only when some variant needs it.
 */
async function countMissingFlops(m: LoadedManifest): Promise<void> {
  const missing = m.variants.filter((v) => v.flops === undefined && v.runtime === 'onnxruntime' && !flopsCache.has(v.sha256));
  if (!missing.length) return;
  const { countFlops } = await import('../drivers/onnx/flops.js');
  for (const v of missing) {
    try {
      flopsCache.set(v.sha256, countFlops(manifestPath(m, v.file)).total);
    } catch {
      flopsCache.set(v.sha256, undefined);
    }
  }
}
