import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { AgentError, messageOf } from '../errors.js';
import type { DecodeContext, DecodeFn } from '../decode/types.js';
import type { TensorPacker } from '../preprocess/tensor.js';
import type { IouTracker } from '../tracker/tracker.js';
import type { RuleEngine, Firing } from '../rules/engine.js';
import type { ActionOutcome, AnomalyEvent, Clock, Detection, Frame, FrameSource, InferenceBackend, InputData, ModelRef, OutputTensor, TrackedDetection } from '../types.js';
import { systemClock } from '../types.js';
import type { EventsPort, LoopObserver, OutputsPort } from './ports.js';
import { PipelineStats } from './stats.js';
import { InferenceTimeoutError, isInferenceTimeout } from './inference-timeout.js';
import type { EventBus } from '../bus.js';
import { createRunner, type InferenceRunner } from './runner.js';
import type { MediaTime } from './media-time.js';
import { Deadlines } from './deadlines.js';

export interface PipelineDeps {
  source: FrameSource;
  packer: TensorPacker;
  backend: InferenceBackend;
  inputName: string;
  decode: DecodeFn;
  decodeCtx: DecodeContext;
  tracker: IouTracker;
  rules: RuleEngine;
  outputs: OutputsPort;
  events: EventsPort;
  model: ModelRef;
  newEventId: () => string;
  device?: string;
  clock?: Clock;
  log?: Logger;
  observer?: LoopObserver;
  /** An inference running longer than this restarts the backend. */
  inferenceTimeoutMs?: number;
  /** Reloads the backend after a timeout or repeated failures; returns the new one. */
  reloadBackend?: () => Promise<InferenceBackend>;
  /** Read and pack the next frame while the current one infers (files read losslessly). */
  prefetch?: boolean;
  /** Optional gate: returns false to skip inference on this frame (motion gating). */
  gate?: (frame: Frame) => boolean;
  /** Where the loop reports frames, drops, firings, events and restarts (metrics, /healthz, summary, status listen). */
  bus?: EventBus;
  /** The camera this loop serves (events, metrics and topics carry it); "default" for the single `source:` form. */
  camera?: string;
  /**
   * A replay (`run --until-eof`): the clip's timestamps drive decisions (./media-time.ts). The loop moves `clock`
   * to each frame's media time; schedule windows and events' times read it; with `outputs` (simulated outputs,
   * timed on the same clock) pulses are due in media time too, otherwise on the wall clock as live.
   */
  media?: { clock: MediaTime; outputs: boolean };
}

interface Prepared {
  frame: Frame;
  tCapture: number;
  /** null: the gate held this frame back from inference; 'frame': the backend packs the frame itself (runFrame). */
  input: InputData | 'frame' | null;
  tPre: number;
}

interface Inferred {
  frame: Frame;
  /** Time spent waiting for this frame from the source. */
  tCapture: number;
  outputs: Record<string, OutputTensor> | null;
  tPre: number;
  tInfer: number;
}

/**
 * The frame loop. Stages overlap so that throughput is set by the slowest stage (the model), not the sum:
 * ffmpeg decodes and scales in its own process and, with a backend that infers on a thread of its own, the main
 * thread decodes, tracks and applies rules to frame N-1 while inference N runs. A backend that runs in this thread
 * (model.inferenceThread main) blocks it for the call, so nothing could overlap: the loop then takes, infers and
 * finishes each frame in turn, which also keeps the measured inference time to the call itself. From a camera, only
 * one frame waits at any point (the source's slot): latest frame wins, nothing queues. A file read in full keeps up
 * to two calls queued at a backend that runs them in order on its own thread, and one more frame read (and packed,
 * unless that backend packs frames in its own thread: InferenceBackend.packFrames).
 */
export class Pipeline {
  readonly stats = new PipelineStats();
  private readonly clock: Clock;
  private readonly log: Logger;
  private stopping = false;
  /** How inference runs on the current backend (inline or queued in its thread), picked when it is opened. */
  private runner: InferenceRunner;
  private firstDone = false;
  private consecutiveFailures = 0;
  private lastDetections: readonly TrackedDetection[] = [];
  private readonly camera: string;
  private seen = { dropped: 0, restarts: 0, inputErrors: 0 };
  private readonly deadlines = new Deadlines();
  rulesRef: RuleEngine;

  constructor(private readonly d: PipelineDeps) {
    this.clock = d.clock ?? systemClock;
    this.log = (d.log ?? silentLogger).child({ component: 'pipeline' });
    this.runner = createRunner(d.backend, d.packer, d.inputName);
    this.rulesRef = d.rules;
    this.camera = d.camera ?? 'default';
  }

  /** Reports the frames the source dropped (latest frame wins) and its restarts since the last look. */
  syncSource(): void {
    const bus = this.d.bus;
    if (!bus) return;
    const st = this.d.source.stats();
    if (st.framesDropped > this.seen.dropped) bus.emit('framesDropped', { camera: this.camera, reason: 'latest', count: st.framesDropped - this.seen.dropped });
    for (let i = this.seen.restarts; i < st.restarts; i++) bus.emit('restart', { component: 'source', camera: this.camera, reason: 'the camera process stopped or stalled' });
    if ((st.inputErrors ?? 0) > this.seen.inputErrors) bus.emit('sourceInputErrors', { camera: this.camera, count: st.inputErrors! - this.seen.inputErrors });
    this.seen = { dropped: Math.max(this.seen.dropped, st.framesDropped), restarts: Math.max(this.seen.restarts, st.restarts), inputErrors: Math.max(this.seen.inputErrors, st.inputErrors ?? 0) };
  }

  /**
   * Swaps the model variant (the governor stepping down or up): the next frame runs on the new backend.
   * The variant must take the same input size (the source keeps its geometry).
   */
  swapModel(m: { backend: InferenceBackend; packer: TensorPacker; model: ModelRef }): InferenceBackend {
    const old = this.backend;
    this.d.packer = m.packer;
    this.runner = createRunner(m.backend, m.packer, this.d.inputName);
    this.d.model = m.model;
    return old;
  }

  /** Swaps the rules (SIGHUP reload) without touching camera, model or outputs. */
  replaceRules(rules: RuleEngine): void {
    this.rulesRef = rules;
  }

  currentBackend(): InferenceBackend {
    return this.backend;
  }

  private get backend(): InferenceBackend {
    return this.runner.backend;
  }

  /** Detections of the last processed frame (for status and snapshots). */
  lastFrameDetections(): readonly TrackedDetection[] {
    return this.lastDetections;
  }

  /**
   * Runs until the source ends or stop() is called. Source failures reject (finite sources only).
   * Cameras (`prefetch` off): the next frame is taken only once inference is free, so it is the newest one.
   * Files read losslessly (`prefetch` on): the next frame is read (and packed, unless the backend packs frames) while the current one infers, and a
   * backend that queues calls on its own thread (`maxInFlight()` 2) gets the next call before the current one
   * returns, so it goes from one inference to the next without waiting for the round trip through this thread.
   */
  async run(): Promise<void> {
    try {
      await this.loop();
    } finally {
      this.syncSource();
    }
  }

  private async loop(): Promise<void> {
    const inflight: Array<Promise<Inferred>> = [];
    let next: Prepared | null = null;
    let ended = false;
    const takeNext = async (): Promise<Prepared | null> => {
      if (ended || this.stopping) return null;
      const p = await this.take();
      if (!p) ended = true;
      return p;
    };
    while (true) {
      if (this.inline()) {
        // Inference in this thread: in turn (frames left from overlapped mode, after a backend swap, first).
        while (inflight.length) await this.finish(await inflight.shift()!);
        const prepared = next ?? (await takeNext());
        next = null;
        if (!prepared) break;
        await this.finish(await this.infer(prepared));
        continue;
      }
      if (this.d.prefetch && inflight.length) {
        // Files: up to `depth` calls queued at the backend, and the frame after them read (and packed) meanwhile.
        const depth = this.runner.depth;
        while (!next) {
          try {
            next = await takeNext();
          } catch (err) {
            // The source failed: the frames already inferring still get their rules and events.
            for (const f of inflight.splice(0)) await this.finish(await f);
            throw err;
          }
          if (!next || inflight.length >= depth) break;
          inflight.push(this.infer(next, inflight.at(-1)));
          next = null;
        }
      }
      const head = inflight.shift();
      const done: Inferred | null = head ? await head : null;
      // Finish the inferred frame now (decode, track and rules run before the next frame is waited for: a camera's
      // next frame may be most of a frame period away), and let its actions and events overlap the next inference.
      const finishing = done ? this.finish(done) : undefined;
      finishing?.catch(() => undefined); // a failure is rethrown by the await below, not reported as unhandled meanwhile
      let prepared: Prepared | null;
      try {
        prepared = next ?? (await takeNext());
      } catch (err) {
        await finishing; // the source failed: the frame before still gets its rules and events
        throw err;
      }
      next = null;
      if (prepared) inflight.push(this.infer(prepared, inflight.at(-1)));
      await finishing;
      if (!prepared && !inflight.length) break;
    }
  }

  /** Whether the backend runs its calls in this thread (then nothing can overlap them). */
  private inline(): boolean {
    return this.runner.mode === 'inline';
  }

  /** Decode, track, rules and events for an inferred frame, then its buffer goes back to the source. */
  private async finish(done: Inferred): Promise<void> {
    try {
      await this.post(done);
    } finally {
      done.frame.release?.();
    }
  }

  stop(): void {
    this.stopping = true;
  }

  /** The frame's wall-clock time: when it was captured, or in a replay the run's start plus its media time. */
  private frameWall(frame: Frame): number {
    return this.d.media ? this.d.media.clock.wallOf(frame.ptsMs) : frame.captureWall;
  }

  /** The next frame from the source, gated and packed into the input tensor (or left to a backend that packs); null at the end. */
  private async take(): Promise<Prepared | null> {
    const t0 = this.clock.now();
    const frame = await this.d.source.next();
    this.syncSource();
    if (!frame) return null;
    const tCapture = this.clock.now() - t0;
    this.stats.stages.capture.add(tCapture);
    if (this.d.gate && !this.d.gate(frame)) {
      this.stats.skippedByGate++;
      this.d.bus?.emit('framesDropped', { camera: this.camera, reason: 'motion', count: 1 });
      return { frame, tCapture, input: null, tPre: 0 };
    }
    const t1 = this.clock.now();
    const input = this.runner.prepare(frame);
    return { frame, tCapture, input, tPre: input === 'frame' ? 0 : this.clock.now() - t1 };
  }

  /**
   * Starts the call at once; with `after` (the call queued before it at the same backend), its time and deadline
   * count from when this thread sees that one done, so the figures leave out the wait in the queue (a stall of this
   * thread can still move time from one call's figure to the next). A packed buffer is reused only after its call
   * has settled here (the packer's rotation of three), so a call whose answer is used has read its own frame.
   */
  private async infer(p: Prepared, after?: Promise<unknown>): Promise<Inferred> {
    const { frame, tCapture, input, tPre } = p;
    if (!input) return { frame, tCapture, outputs: null, tPre: 0, tInfer: 0 };
    let t1 = this.clock.now();
    const runner = this.runner;
    const backend = runner.backend;
    const call = runner.infer(input, frame);
    if (after) {
      call.catch(() => undefined); // handled below; not unhandled while the call before it finishes
      await after.then(
        () => undefined,
        () => undefined,
      );
      t1 = Math.max(t1, this.clock.now());
    }
    try {
      const outputs = await this.withDeadline(call, t1);
      const t2 = this.clock.now();
      this.stats.inferences++;
      this.consecutiveFailures = 0;
      return { frame, tCapture, outputs, tPre, tInfer: t2 - t1 };
    } catch (err) {
      await this.onInferenceError(err, backend);
      return { frame, tCapture, outputs: null, tPre, tInfer: this.clock.now() - t1 };
    }
  }

  /**
   * Rejects when the call is not done `inferenceTimeoutMs` after `t0`. A call running in this thread cannot be
   * interrupted by a timer (it blocks the thread, and settles before any timer can run), so its duration is also
   * checked when it returns: a late answer counts as a timeout too and is not used.
   * One timer watches every outstanding call (./deadlines.ts) instead of a timer set and cleared per frame.
   */
  private async withDeadline<T>(p: Promise<T>, t0: number): Promise<T> {
    const ms = this.d.inferenceTimeoutMs;
    if (!ms) return p;
    const r = await this.deadlines.watch(p, ms, () => new InferenceTimeoutError(ms));
    if (this.clock.now() - t0 > ms) throw new InferenceTimeoutError(ms);
    return r;
  }

  private async onInferenceError(err: unknown, backend: InferenceBackend): Promise<void> {
    const timeout = isInferenceTimeout(err);
    if (timeout) this.stats.inferenceTimeouts++;
    else this.stats.inferenceErrors++;
    if (backend !== this.backend) {
      // A call queued at a backend that has since been restarted or swapped: counted, but it says nothing of the
      // backend in use now (and restarting again would close that one).
      this.log.warn({ err }, 'a call queued at the replaced inference backend failed');
      return;
    }
    this.consecutiveFailures++;
    this.log.error({ err, consecutive: this.consecutiveFailures }, timeout ? 'inference timed out' : 'inference failed');
    if ((timeout || this.consecutiveFailures >= 3) && this.d.reloadBackend) {
      this.log.warn('restarting the inference backend');
      try {
        this.runner = createRunner(await this.d.reloadBackend(), this.d.packer, this.d.inputName);
        this.stats.backendRestarts++;
        this.consecutiveFailures = 0;
      } catch (e) {
        this.log.error({ err: e }, 'backend restart failed; will retry on the next failure');
      }
    }
  }

  private async post(r: Inferred): Promise<void> {
    const { frame } = r;
    const tStart = this.clock.now();
    let dets: Detection[] = [];
    if (r.outputs) {
      dets = this.d.decode(r.outputs, this.d.decodeCtx);
      // Frames the backend packs itself (runFrame) have tPre 0: their packing is part of the inference time.
      this.stats.stages.preprocess.add(r.tPre);
      this.stats.stages.inference.add(r.tInfer);
    }
    const tDecoded = this.clock.now();
    // A replay: timers due before this frame (pulses, their offs) run first, at their own media time.
    const media = this.d.media?.clock;
    if (media) await media.advanceTo(frame.ptsMs);
    const frameWall = this.frameWall(frame);
    const tracked = r.outputs ? this.d.tracker.update(dets, frame.ptsMs) : this.lastDetections;
    const tTracked = this.clock.now();
    const firings = r.outputs
      ? this.rulesRef.evaluate({ ptsMs: frame.ptsMs, wallMs: frameWall, detections: tracked, endedTracks: this.d.tracker.ended() })
      : [];
    if (r.outputs) this.d.bus?.emit('decision', { camera: this.camera, seq: frame.seq, captureTs: frameWall, detections: tracked, firings: firings.map((f) => f.rule.name), frame, geometry: this.d.decodeCtx.geometry, fired: firings.map((f) => ({ rule: f.rule.name, label: f.label, trackId: f.trackId, bbox: f.bbox })) });
    for (const f of firings) await this.act(f, frame, r);
    const tEnd = this.clock.now();
    if (r.outputs) {
      this.stats.stages.decode.add(tDecoded - tStart);
      this.stats.stages.track.add(tTracked - tDecoded);
      this.stats.stages.rules.add(tEnd - tTracked);
      this.stats.stages.total.add(tEnd - frame.captureMono);
      this.stats.decision.add(tEnd - frame.captureMono);
      this.lastDetections = tracked;
    }
    this.stats.tick(tEnd);
    this.d.outputs.heartbeat();
    if (r.outputs && !this.firstDone) {
      this.firstDone = true;
      this.d.observer?.firstInference?.();
      this.d.bus?.emit('firstInference', { camera: this.camera });
    }
    const stagesMs: Record<string, number> = r.outputs
      ? { capture: r.tCapture, preprocess: r.tPre, inference: r.tInfer, decode: tDecoded - tStart, track: tTracked - tDecoded, rules: tEnd - tTracked, total: tEnd - frame.captureMono }
      : {};
    this.d.observer?.frame?.(stagesMs);
    this.d.bus?.emit('frame', { camera: this.camera, stagesMs });
  }

  private async act(f: Firing, frame: Frame, r: Inferred): Promise<void> {
    this.stats.firings++;
    this.d.bus?.emit('firing', { camera: this.camera, rule: f.rule.name, label: f.label });
    const reason = `rule ${f.rule.name}: ${f.label} ${f.score.toFixed(2)}${f.trackId !== null ? ` track ${f.trackId}` : ''} frame ${frame.seq}`;
    const outcomes: ActionOutcome[] = [];
    let wantsEvent = false;
    let wantsSnapshot = false; // a snapshot only for a rule whose event action says `snapshot: true`
    for (const a of f.rule.actions) {
      try {
        if (a.type === 'pulse') {
          // Live: due on the monotonic clock from the capture. A replay with simulated outputs: due in media time.
          const mediaMs = frame.ptsMs + a.delayMs;
          const dueMono = this.d.media?.outputs ? mediaMs : frame.captureMono + a.delayMs;
          const o = await this.d.outputs.pulse(a.output, { dueMono, widthMs: a.widthMs, reason, mediaMs });
          outcomes.push(o.type === 'pulse' && !o.dueTs ? { ...o, dueTs: new Date(this.frameWall(frame) + a.delayMs).toISOString() } : o);
        } else if (a.type === 'hold') {
          outcomes.push(await this.d.outputs.hold(a.output, { durationMs: a.durationMs, reason }));
        } else {
          wantsEvent = true;
          wantsSnapshot ||= a.snapshot;
        }
      } catch (err) {
        this.log.error({ err, rule: f.rule.name, action: a.type }, 'action failed');
        outcomes.push(a.type === 'event' ? { type: 'event', status: 'failed', detail: messageOf(err) } : { type: a.type, output: a.output, status: 'failed', detail: messageOf(err) } as ActionOutcome);
      }
    }
    this.log.info({ rule: f.rule.name, label: f.label, score: Number(f.score.toFixed(3)), trackId: f.trackId, frame: frame.seq, actions: outcomes.map((o) => `${o.type}:${o.status}`) }, 'anomaly');
    if (!wantsEvent) return;
    const s = this.stats.stages;
    const ev: AnomalyEvent = {
      schema: 1,
      id: this.d.newEventId(),
      ts: new Date(this.d.media ? this.d.media.clock.wall() : this.clock.wall()).toISOString(),
      rule: f.rule.name,
      label: f.label,
      score: round(f.score, 4),
      bbox: f.bbox.map((v) => round(v, 4)) as [number, number, number, number],
      trackId: f.trackId,
      frame: { seq: frame.seq, ts: new Date(this.frameWall(frame)).toISOString() },
      model: this.d.model,
      thresholds: f.thresholds,
      latencyMs: {
        preprocess: round(r.tPre, 2),
        inference: round(r.tInfer, 2),
        decode: round(s.decode.percentile(50), 2),
        captureToDecision: round(this.clock.now() - frame.captureMono, 2),
      },
      actions: [...outcomes, { type: 'event', status: 'queued' }],
      ...(this.d.device ? { device: this.d.device } : {}),
      ...(this.camera !== 'default' ? { camera: this.camera } : {}),
    };
    let outcome: Extract<ActionOutcome, { type: 'event' }>;
    try {
      const o = (await this.d.events.emit(ev, { frame, geometry: this.d.decodeCtx.geometry, snapshot: wantsSnapshot })) as Extract<ActionOutcome, { type: 'event' }> | undefined;
      // A port that resolves without an outcome queued it (the hub always says; a plain sink throws when it cannot).
      outcome = o && o.type === 'event' ? o : { type: 'event', status: 'queued' };
    } catch (err) {
      outcome = { type: 'event', status: 'failed', detail: messageOf(err) };
    }
    // Only events some sink durably took count as written: "queued" must never hide an event every sink refused.
    if (outcome.status === 'queued') this.stats.events++;
    else this.log.error({ event: ev.id, detail: outcome.detail }, 'event could not be queued by any sink');
    this.d.bus?.emit('event', { camera: this.camera, eventId: ev.id, outcome, event: ev, evidence: { frame, geometry: this.d.decodeCtx.geometry } });
  }
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
