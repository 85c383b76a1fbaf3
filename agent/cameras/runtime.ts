import type { Logger } from '../log.js';
import { messageOf } from '../errors.js';
import type { AgentConfig } from '../config/schema.js';
import type { CameraSpec } from '../config/sections/cameras.js';
import type { ModelChoice } from '../model/host.js';
import type { FrameSource, InferenceBackend, ModelRef } from '../types.js';
import type { AgentDrivers } from '../ports.js';
import type { EventBus } from '../bus.js';
import type { EventsPort, OutputsPort } from '../pipeline/ports.js';
import { Pipeline } from '../pipeline/pipeline.js';
import { TensorPacker } from '../preprocess/tensor.js';
import { inputSize } from '../preprocess/geometry.js';
import { prepareDecoder } from '../decode/index.js';
import { IouTracker } from '../tracker/tracker.js';
import { RuleEngine } from '../rules/engine.js';
import { decoderThreads } from '../model/inference-thread.js';
import type { ManifestInput } from '../model/manifest-schema.js';

/**
 * How a camera's source delivers frames for its model: the decoder's thread budget (the CPUs left beside inference,
 * agent/model/inference-thread.ts) and planar pixels for an NCHW model. The benchmarks build the decoder's command
 * from the same options, so what they time is what the agent runs.
 */
export function cameraCapture(modelThreads: number, input: ManifestInput, inference: 'worker' | 'main'): { input: ManifestInput; decoderThreads: number; planar: boolean } {
  return { input, decoderThreads: decoderThreads(modelThreads, inference), planar: input.layout === 'NCHW' };
}

/** What one camera shares with the others: the agent's bus, sinks, outputs and its model's session. */
export interface CameraDeps {
  cfg: AgentConfig;
  log: Logger;
  bus: EventBus;
  drivers: AgentDrivers;
  mode: 'latest' | 'lossless';
  /** The running model this camera's frames go to, and this camera's lane to its shared session. */
  model: () => ModelChoice;
  /** This camera's lane to its model's current session (a new lane after each swap or reload). */
  lane: () => InferenceBackend;
  modelRef: () => ModelRef;
  events: EventsPort;
  outputs: OutputsPort;
  device: string;
  newEventId: () => string;
  /** A fresh session behind every camera of this model (after a hung or failed call); returns this camera's lane. */
  reloadBackend: () => Promise<InferenceBackend>;
  gate?: (camera: string) => ((frame: Parameters<NonNullable<ConstructorParameters<typeof Pipeline>[0]['gate']>>[0]) => boolean) | undefined;
  /** Resolves paths relative to the config file. */
  resolveSource: (s: CameraSpec['source']) => CameraSpec['source'];
  /** A replay decided in the clip's media time (one camera read in full): the pipeline's `media` option. */
  media?: ConstructorParameters<typeof Pipeline>[0]['media'];
  /** Called each time this camera's frame loop is (re)built. */
  onPipeline?: (p: Pipeline, source: FrameSource) => void;
}

/**
 * One camera: its source, frame loop and rules, with a failure boundary of its own. A source that cannot open or a
 * loop that fails is this camera's error: logged with the camera's name, counted as a source restart, and retried
 * with backoff (restart.minMs doubling to restart.maxMs), while the other cameras run on.
 */
export class CameraRuntime {
  readonly name: string;
  pipeline: Pipeline | undefined;
  source: FrameSource | undefined;
  private rules: RuleEngine;
  private stopping = false;
  private wake: (() => void) | undefined;
  readonly log: Logger;
  /** Frames of loops this camera ran before its last restart (the pipeline's own count restarts with it). */
  private framesBefore = 0;
  failures = 0;
  lastError: string | undefined;

  constructor(
    readonly spec: CameraSpec,
    private readonly d: CameraDeps,
  ) {
    this.name = spec.name;
    this.log = d.log.child({ camera: spec.name });
    this.rules = new RuleEngine(spec.rules, this.log);
  }

  /** Opens the source and builds the loop; throws when the source cannot open (the caller decides whether that stops the agent). */
  async start(): Promise<void> {
    const opened = this.d.model().opened;
    const src = this.readInFull(this.d.resolveSource(this.spec.source));
    const capture = cameraCapture(this.d.cfg.model.threads, opened.input, opened.backend.runsIn?.() ?? 'main');
    const decoding = capture.decoderThreads;
    const source = await this.d.drivers.openSource(src, { ...capture, mode: this.d.mode, log: this.log });
    try {
      await source.start();
    } catch (err) {
      await source.stop().catch(() => undefined);
      throw err;
    }
    this.source = source;
    const { manifest } = this.d.model();
    const geometry = source.geometry();
    const { width, height } = inputSize(opened.input);
    const info = opened.backend.inputs().find((i) => i.name === opened.input.name);
    if (this.pipeline) this.framesBefore += this.pipeline.stats.frames;
    this.pipeline = new Pipeline({
      source,
      packer: new TensorPacker(opened.input, { quant: info?.quant }),
      backend: this.d.lane(),
      inputName: opened.input.name,
      decode: prepareDecoder(manifest.decoder, manifest.labels),
      decodeCtx: { spec: manifest.decoder, labels: manifest.labels, inputWidth: width, inputHeight: height, geometry },
      tracker: new IouTracker(this.d.cfg.tracker),
      rules: this.rules,
      outputs: this.d.outputs,
      events: this.d.events,
      model: this.d.modelRef(),
      newEventId: this.d.newEventId,
      device: this.d.device,
      log: this.log,
      bus: this.d.bus,
      camera: this.name,
      ...(this.d.media ? { media: this.d.media } : {}),
      inferenceTimeoutMs: this.d.cfg.pipeline.inferenceTimeoutMs,
      ...(this.d.gate?.(this.name) ? { gate: this.d.gate(this.name)! } : {}),
      prefetch: this.d.mode === 'lossless',
      reloadBackend: this.d.reloadBackend,
    });
    this.d.onPipeline?.(this.pipeline, source);
    this.log.info({ source: source.describe(), decoderThreads: decoding, rules: this.spec.rules.map((r) => r.name), outputs: this.spec.outputs }, `camera ${this.name} started`);
  }

  /**
   * `run --until-eof` (lossless) reads every camera's file once, as fast as the loop takes it, as it does the single
   * `source:` (run.ts adjusts that one before the agent starts).
   */
  private readInFull(s: CameraSpec['source']): CameraSpec['source'] {
    if (this.d.mode !== 'lossless' || this.name === 'default') return s;
    if (s.type === 'file') return { ...s, pace: 'fast', loop: false };
    if (s.type === 'images') return { ...s, loop: false };
    return s;
  }

  /** Frames this camera's loops processed since start. */
  frames(): number {
    return this.framesBefore + (this.pipeline?.stats.frames ?? 0);
  }

  /**
   * Runs the loop; with `restart` (a camera among several, or any live camera), a failure restarts this camera alone
   * after a backoff, until stop(). A finite source that ends (a file read in full) ends the run.
   */
  async run(restart: boolean): Promise<void> {
    const { minMs, maxMs } = this.spec.source.restart;
    let backoff = minMs;
    while (!this.stopping) {
      try {
        if (!this.pipeline || !this.source) await this.start();
        const t0 = performance.now();
        await this.pipeline!.run();
        // A finite run, a stop, or one camera alone (its loop ending ends the run, as it always did).
        if (this.d.mode === 'lossless' || this.stopping || !restart) return;
        // A live source that ended is restarted like one that failed.
        if (performance.now() - t0 > maxMs) backoff = minMs;
        throw new Error('the source ended');
      } catch (err) {
        if (!restart || this.stopping) throw err;
        this.failures++;
        this.lastError = messageOf(err);
        this.log.error({ camera: this.name, reason: this.lastError, retryInMs: backoff }, `camera ${this.name} failed: ${this.lastError}; restarting it in ${backoff} ms (the other cameras run on)`);
        this.d.bus.emit('restart', { component: 'source', camera: this.name, reason: this.lastError });
        await this.closeSource();
        await new Promise<void>((res) => {
          const t = setTimeout(res, backoff);
          this.wake = () => {
            clearTimeout(t);
            res();
          };
        });
        this.wake = undefined;
        backoff = Math.min(maxMs, backoff * 2);
      }
    }
  }

  replaceRules(rules: CameraSpec['rules']): void {
    this.rules = new RuleEngine(rules, this.log);
    this.pipeline?.replaceRules(this.rules);
  }

  requestStop(): void {
    this.stopping = true;
    this.pipeline?.stop();
    this.wake?.();
  }

  private async closeSource(): Promise<void> {
    this.pipeline?.stop();
    const s = this.source;
    this.source = undefined;
    await s?.stop().catch((err: unknown) => this.log.error({ err }, 'source stop failed'));
  }

  async stop(): Promise<void> {
    this.requestStop();
    await this.closeSource();
  }
}
