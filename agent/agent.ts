import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Logger } from './log.js';
import { AgentError, messageOf } from './errors.js';
import type { AgentConfig } from './config/schema.js';
import { configPath, type LoadedConfig } from './config/load.js';
import { loadManifest, type LoadedManifest } from './model/manifest.js';
import { openVariant, type OpenedVariant } from './model/open-variant.js';
import { TensorPacker } from './preprocess/tensor.js';
import { inputSize } from './preprocess/geometry.js';
import { getDecoder } from './decode/index.js';
import { IouTracker } from './tracker/tracker.js';
import { RuleEngine } from './rules/engine.js';
import { Pipeline } from './pipeline/pipeline.js';
import type { LoopObserver, OutputsPort } from './pipeline/ports.js';
import { OutputBank } from './actuators/index.js';
import { EventHub } from './events/hub.js';
import { JsonlSink } from './events/jsonl-sink.js';
import { UuidV7 } from './events/uuidv7.js';
import type { AgentEventSink } from './events/types.js';
import type { ActionOutcome, FrameSource, ModelRef } from './types.js';
import { createSource } from '../drivers/camera/index.js';
import { createBackend } from '../drivers/inference/registry.js';

export interface AgentOptions {
  loaded: LoadedConfig;
  log: Logger;
  /** latest: drop frames the loop has no time for (cameras); lossless: every frame of a file (--until-eof). */
  mode: 'latest' | 'lossless';
  /** Append events as JSON lines here (in addition to events.jsonl in the config). */
  eventsOut?: string;
  /** Replace every output driver by a dry-run journal. */
  simulateOutputs?: string;
  stateDir: string;
  observer?: LoopObserver;
}

export interface ModelChoice {
  manifest: LoadedManifest;
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
  stages: ReturnType<Pipeline['stats']['summary']>;
  model: ModelRef;
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
  private bank: OutputBank | undefined;
  private hub: EventHub | undefined;
  private source: FrameSource | undefined;
  pipeline: Pipeline | undefined;
  private t0 = 0;
  private lastPulseEnd = 0;
  private pulses = { scheduled: 0, missed: 0, refused: 0, failed: 0 };
  private readonly ids = new UuidV7();

  constructor(private readonly opts: AgentOptions) {
    this.cfg = opts.loaded.config;
    this.log = opts.log;
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
    mkdirSync(this.opts.stateDir, { recursive: true });
    this.choice = await this.openModel();
    const { opened, manifest } = this.choice;
    const modelRef: ModelRef = { name: manifest.name, variant: opened.variant.name, sha256: opened.variant.sha256, accelerator: opened.backend.accelerator() };

    this.bank = new OutputBank(cfg.outputs, { log: this.log, simulateJournal: this.opts.simulateOutputs, stallMs: cfg.pipeline.stallMs });
    await this.bank.start();

    const sinks: AgentEventSink[] = [];
    const jsonl = [this.opts.eventsOut, cfg.events.jsonl && configPath(this.opts.loaded, cfg.events.jsonl)].filter((x): x is string => Boolean(x));
    for (const file of new Set(jsonl)) sinks.push(new JsonlSink({ file, log: this.log }));
    this.hub = new EventHub(sinks, this.log);
    await this.hub.start();

    this.source = createSource(cfg.source, { input: opened.input, mode: this.opts.mode, log: this.log });
    await this.source.start();
    const geometry = this.source.geometry();
    const { width, height } = inputSize(opened.input);
    const inputInfo = opened.backend.inputs().find((i) => i.name === opened.input.name);

    this.pipeline = new Pipeline({
      source: this.source,
      packer: new TensorPacker(opened.input, { quant: inputInfo?.quant }),
      backend: opened.backend,
      inputName: opened.input.name,
      decode: getDecoder(manifest.decoder.type),
      decodeCtx: { spec: manifest.decoder, labels: manifest.labels, inputWidth: width, inputHeight: height, geometry },
      tracker: new IouTracker(cfg.tracker),
      rules: new RuleEngine(cfg.rules, this.log),
      outputs: this.outputsPort(),
      events: this.hub,
      model: modelRef,
      newEventId: () => this.ids.next(),
      device: this.deviceId,
      log: this.log,
      observer: this.opts.observer,
      inferenceTimeoutMs: cfg.pipeline.inferenceTimeoutMs,
      reloadBackend: () => this.reloadBackend(),
    });
    this.log.info(
      { source: this.source.describe(), model: `${manifest.name}/${opened.variant.name}`, accelerator: opened.backend.accelerator(), outputs: Object.keys(cfg.outputs), rules: cfg.rules.map((r) => r.name) },
      'agent started',
    );
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
      stages: p.stats.summary(),
      model: { name: c.manifest.name, variant: c.opened.variant.name, sha256: c.opened.variant.sha256, accelerator: c.opened.backend.accelerator() },
      source: this.source?.describe() ?? '',
    };
  }

  /** Stops taking frames; the loop finishes the frame in flight. */
  requestStop(): void {
    this.pipeline?.stop();
  }

  /** Undoes start() in reverse order: source, outputs safe, sinks flushed, model closed. */
  async stop(): Promise<void> {
    this.pipeline?.stop();
    await this.source?.stop().catch((err) => this.log.error({ err }, 'source stop failed'));
    await this.bank?.stop().catch((err) => this.log.error({ err }, 'outputs stop failed'));
    await this.hub?.stop().catch((err) => this.log.error({ err }, 'event sinks stop failed'));
    await this.pipeline?.currentBackend().close().catch(() => undefined);
    if (!this.pipeline) await this.choice?.opened.backend.close().catch(() => undefined);
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

  /** Opens the configured variant, or the candidates in order, falling back loudly when one cannot run. */
  private async openModel(): Promise<ModelChoice> {
    const manifest = loadManifest(configPath(this.opts.loaded, this.cfg.model.manifest));
    const candidates = this.cfg.model.variant
      ? [manifest.variants.find((v) => v.name === this.cfg.model.variant) ?? failVariant(manifest, this.cfg.model.variant)]
      : manifest.variants.filter((v) => v.runtime === 'onnxruntime' && v.accelerator === 'cpu');
    const passedOver: ModelChoice['passedOver'] = [];
    let lastErr: unknown;
    for (const v of candidates) {
      try {
        const opened = await openVariant(manifest, v, {
          threads: this.cfg.model.threads,
          verify: this.cfg.model.verify,
          edgetpuDevice: this.cfg.model.edgetpuDevice,
          log: this.log,
          createBackend,
        });
        const degraded = passedOver.length ? `wanted ${passedOver[0]!.variant}, running ${v.name} because ${passedOver[0]!.reason}` : undefined;
        if (degraded) this.log.warn({ degraded }, `degraded: ${degraded}`);
        return { manifest, opened, passedOver, degraded };
      } catch (err) {
        lastErr = err;
        passedOver.push({ variant: v.name, reason: messageOf(err) });
        this.log.warn({ variant: v.name, reason: messageOf(err) }, `variant ${v.name} cannot run here`);
      }
    }
    if (lastErr) throw lastErr;
    throw new AgentError('MODEL_INVALID', `model ${manifest.name} has no variant that can run here`, { fix: 'run `edge-agent doctor` to see why each variant was rejected' });
  }

  private async reloadBackend() {
    const c = this.choice!;
    const fresh = await openVariant(c.manifest, c.opened.variant, { threads: this.cfg.model.threads, verify: false, edgetpuDevice: this.cfg.model.edgetpuDevice, log: this.log, createBackend });
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
