import type { Logger } from '../log.js';
import { AgentError, isAgentError } from '../errors.js';
import type { InferenceBackend } from '../types.js';
import type { ModelConfig } from '../config/sections/model.js';
import { manifestPath, referenceOf, type LoadedManifest, type VariantSpec } from './manifest.js';
import { knownAnswerDetections } from './known-answer.js';
import { DEFAULT_MIN_AGREEMENT, knownAnswerAgreement } from '../select/agreement.js';
import type { Detection } from '../types.js';
import { feedbackPairs } from '../decode/common.js';
import { chooseVariant, type Choice, type HardwareInfo } from './choose.js';
import { openVariant, type BackendFactory, type OpenedVariant, type OpenOptions } from './open-variant.js';
import { packInInferenceThread, resolveInferenceThread, resolvePinning, type InferenceThreadChoice, type PinChoice } from './inference-thread.js';
import { verifyWalk, walkCandidates, type HardwareProfile, type SelectionConfig, type SelectionResult } from '../select/index.js';
import { installHint } from './install-hint.js';

/** What the model host needs from the drivers; the composition root (agent/app/compose.ts) supplies it. */
export interface ModelHostDeps {
  /** A fresh, unloaded backend for a runtime name (the inference registry). */
  createBackend: BackendFactory;
  /** Wraps a backend for a recurrent model: outputs fed back as inputs (decoder.params.feedback). */
  stateful: (inner: InferenceBackend, pairs: Array<[string, string]>) => InferenceBackend;
  /** The hardware profile and the runtimes/accelerators really usable here (probed once per host). */
  hardware: () => Promise<HardwareInfo>;
  /** CPUs this process may run on (for pinning the inference thread). */
  allowedCpus: () => number[];
  /** FLOPs of an ONNX file (for the energy estimate); undefined when it cannot be counted. */
  countFlops?: (file: string) => Promise<number | undefined>;
}

/** The model settings the host works with: the config's `model:` section (threads, verify, selection alpha/beta ...). */
export type ModelHostSettings = Pick<ModelConfig, 'threads' | 'verify' | 'edgetpuDevice' | 'inferenceThread' | 'pinInferenceThread' | 'variant'> & { selection: SelectionConfig };

export interface ModelHostOptions {
  manifest: LoadedManifest;
  settings: ModelHostSettings;
  /** The state folder, resolved once (agent/paths.ts resolveStateDir): the bench cache lives there. */
  stateDir: string;
  /** live: a camera (latest frame wins); file: every frame of a file. Picks the inference thread under `auto`. */
  job: 'live' | 'file';
  log: Logger;
}

/** The running model: the manifest, the hardware it was chosen for and the opened variant. */
export interface ModelChoice {
  manifest: LoadedManifest;
  profile: HardwareProfile;
  opened: OpenedVariant;
  /** Variants tried before the one running, with the reason each was passed over. */
  passedOver: Array<{ variant: string; reason: string }>;
  degraded?: string;
}

/**
 * One place that opens models: choose (score every variant here) -> open -> known-answer verify -> swap ->
 * reload -> close. `run`, `detect`, `bench` and `doctor` all go through it, so recurrent state, the config's
 * alpha/beta, the bench cache and the state folder are handled the same way everywhere. Every backend it
 * creates is tracked until closed; close() closes whatever is still open, on every path.
 */
export class ModelHost {
  readonly manifest: LoadedManifest;
  private readonly live = new Set<InferenceBackend>();
  private readonly factory: BackendFactory;
  private readonly log: Logger;
  private hw: Promise<HardwareInfo> | undefined;
  private thread: InferenceThreadChoice | undefined;
  private pinning: PinChoice | undefined;
  private current: ModelChoice | undefined;
  /** Every variant's score or rejection reason from the last choose(). */
  selection: SelectionResult | undefined;
  private readonly flops = new Map<string, number | undefined>();
  /** The reference's detections on a known-answer input, by reference sha256 and input file (computed once). */
  private readonly refAnswers = new Map<string, Detection[] | undefined>();

  constructor(
    private readonly opts: ModelHostOptions,
    private readonly deps: ModelHostDeps,
  ) {
    this.manifest = opts.manifest;
    this.log = opts.log.child({ component: 'model-host' });
    const pairs = feedbackPairs(opts.manifest.decoder);
    this.factory = async (runtime, log) => {
      const inner = await deps.createBackend(runtime, log);
      return this.track(pairs.length ? deps.stateful(inner, pairs) : inner);
    };
  }

  /** Backends opened by this host and not closed yet (a leak shows here). */
  openBackends(): number {
    return this.live.size;
  }

  running(): ModelChoice | undefined {
    return this.current;
  }

  hardware(): Promise<HardwareInfo> {
    this.hw ??= this.deps.hardware();
    return this.hw;
  }

  /** Scores every variant here (the config's alpha/beta, this device's bench cache); opens nothing. */
  async choose(only?: string): Promise<Choice> {
    const choice = await chooseVariant(this.manifest, { selection: this.opts.settings.selection, stateDir: this.opts.stateDir, only, log: this.log, hardware: await this.hardware() });
    this.selection = choice.selection;
    return choice;
  }

  /**
   * Chooses, then opens the best candidate and proves it with the known-answer check, falling back to the next
   * one loudly when it cannot run. A candidate passed over is closed before the next is opened.
   */
  async open(): Promise<ModelChoice> {
    const m = this.manifest;
    const s = this.opts.settings;
    const forced = s.variant;
    if (forced && !m.variants.some((v) => v.name === forced)) {
      throw new AgentError('CONFIG_INVALID', `model.variant "${forced}" is not in ${m.path}`, { fix: `use one of: ${m.variants.map((v) => v.name).join(', ')}` });
    }
    const { profile, selection, fileErrors } = await this.choose(forced);
    for (const v of selection.variants) this.log.info({ variant: v.name, eligible: v.eligible, score: v.score, latencyMs: v.latencyMs, latencySource: v.latencySource }, `variant ${v.name}: ${v.reason}`);
    this.log.info(selection.summary);
    if (!selection.selected) {
      // Every file missing or corrupt: the first file's own error names the file and the fix best.
      const candidates = selection.variants.map((v) => v.name);
      if (candidates.length && candidates.every((n) => fileErrors.has(n))) throw fileErrors.get(candidates[0]!);
      // Issue 20: nothing can run on this board: unavailable (69) with what to install, never a silent CPU-less run.
      throw new AgentError('BACKEND_UNAVAILABLE', `no variant of model ${m.name} can run here: ${selection.summary.replace(/^no variant can run here: /, '')}`, { fix: installHint(selection.variants, (await this.hardware()).capabilities) });
    }
    let opened: OpenedVariant | undefined;
    let firstError: unknown;
    const walk = await verifyWalk(walkCandidates(selection), async (c) => {
      // The walk moved on from the previous candidate (too slow): its session is released before the next opens.
      if (opened) await this.release(opened.backend);
      opened = undefined;
      opened = await this.openForLoop(c.name, s.verify).catch((err: unknown) => {
        firstError ??= err;
        throw err;
      });
      return { ok: true, latencyMs: opened.knownAnswer?.latencyMs };
    });
    const passedOver = walk.attempts.filter((a) => !a.ok).map((a) => ({ variant: a.name, reason: a.reason ?? 'failed' }));
    if (!walk.running) {
      if (opened) await this.release(opened.backend);
      // Nothing started: the first candidate's own error says what is wrong with this model and how to fix it.
      if (isAgentError(firstError)) throw firstError;
      throw new AgentError('MODEL_INVALID', `no variant of model ${m.name} could be started: ${walk.degraded?.reason ?? 'none tried'}`, { fix: 'run `edge-agent doctor` to see why each variant was rejected' });
    }
    if (!opened || opened.variant.name !== walk.running) {
      // Every candidate was "too slow" and the walk runs an earlier one: this session belongs to the last tried.
      if (opened) await this.release(opened.backend);
      opened = await this.openForLoop(walk.running, false);
    }
    const degraded = walk.degraded?.reason;
    if (degraded) this.log.warn({ wanted: walk.degraded!.wanted, running: walk.running }, degraded);
    this.logInferenceThread(opened);
    this.current = { manifest: m, opened, passedOver, ...(degraded ? { degraded } : {}), profile };
    return this.current;
  }

  /**
   * Opens one named variant through this host (tracked, recurrent state wrapped, thread and pinning resolved).
   * `thread`: where the calls run (default: the host's choice for its job; 'backend' leaves it to the runtime).
   * `pack`: let a backend with its own thread pack frames there (the frame loop's hand-over; off for still images).
   */
  async openVariant(name: string, o: { verify: boolean; thread?: 'worker' | 'main' | 'backend'; pack?: boolean }): Promise<OpenedVariant> {
    const v = this.manifest.variants.find((x) => x.name === name);
    if (!v) throw new AgentError('USAGE', `variant "${name}" is not in ${this.manifest.path}`, { fix: `use one of: ${this.manifest.variants.map((x) => x.name).join(', ')}` });
    return openVariant(this.manifest, v, this.openOptions(o.verify, o.thread, o.pack ?? false));
  }

  /** Opens another variant of the running model; returns it and the old one (release it once no call uses it). */
  async swap(name: string): Promise<{ opened: OpenedVariant; old: OpenedVariant }> {
    const c = this.mustRun();
    const opened = await this.openForLoop(name, this.opts.settings.verify);
    const old = c.opened;
    c.opened = opened;
    return { opened, old };
  }

  /** A fresh session of the running variant (after a hung or failed call); the old one is released in the background. */
  async reload(): Promise<InferenceBackend> {
    const c = this.mustRun();
    const fresh = await this.openForLoop(c.opened.variant.name, false);
    const old = c.opened.backend;
    c.opened = fresh;
    // The old session may still be stuck in a call: it closes whenever that call ends.
    void this.release(old);
    return fresh.backend;
  }

  /** Closes one backend this host opened (idempotent). */
  async release(backend: InferenceBackend, afterMs = 0): Promise<void> {
    if (afterMs > 0) {
      setTimeout(() => void this.release(backend), afterMs).unref();
      return;
    }
    if (!this.live.has(backend)) return;
    await backend.close().catch((err: unknown) => this.log.warn({ err }, 'closing a model session failed'));
  }

  /** Closes every backend still open. */
  async close(): Promise<void> {
    await Promise.all([...this.live].map((b) => this.release(b)));
  }

  /** FLOPs of a variant (manifest, else counted from the ONNX graph once), for the energy estimate. */
  async flopsOf(name: string): Promise<number | undefined> {
    const v = this.manifest.variants.find((x) => x.name === name);
    if (!v) return undefined;
    if (v.flops !== undefined) return v.flops;
    if (v.runtime !== 'onnxruntime' || !this.deps.countFlops) return undefined;
    if (!this.flops.has(v.sha256)) this.flops.set(v.sha256, await this.deps.countFlops(manifestPath(this.manifest, v.file)).catch(() => undefined));
    return this.flops.get(v.sha256);
  }

  /** Counted FLOPs known without I/O (flopsOf() fills it). */
  knownFlops(name: string): number | undefined {
    const v = this.manifest.variants.find((x) => x.name === name);
    return v?.flops ?? (v ? this.flops.get(v.sha256) : undefined);
  }

  inferenceThread(): InferenceThreadChoice {
    this.thread ??= resolveInferenceThread(this.opts.settings.inferenceThread, undefined, this.opts.job);
    return this.thread;
  }

  private openOptions(verify: boolean, thread: 'worker' | 'main' | 'backend' | undefined, pack: boolean): OpenOptions {
    const t = thread === 'backend' ? undefined : (thread ?? this.inferenceThread().thread);
    const s = this.opts.settings;
    this.pinning ??= resolvePinning(s.pinInferenceThread, this.inferenceThread().thread, s.threads, this.deps.allowedCpus());
    // Pinning is resolved for the agent's own inference thread; a one-off open in another thread is not pinned.
    const pinCpu = thread === undefined ? this.pinning.cpu : undefined;
    return { threads: s.threads, verify, edgetpuDevice: s.edgetpuDevice, thread: t, pinCpu, packInBackend: pack, log: this.opts.log, createBackend: this.factory, checkAnswer: (v, b) => this.checkAgainstReference(v, b) };
  }

  /**
   * The known-answer check compares answers, not only "it ran": a variant with a reference (the fp32 variant it was
   * derived from) must find on the known-answer input what the reference finds there (same label, IoU >= 0.5) at
   * model.selection.minAgreement, else it is rejected with the numbers and the next candidate is tried. Not compared
   * (said in the log) when there is no known-answer input, it does not fit both inputs, or the reference cannot open.
   */
  private async checkAgainstReference(v: VariantSpec, backend: InferenceBackend): Promise<void> {
    const ref = referenceOf(this.manifest.variants, v);
    if (!ref || ref.name === v.name) return;
    const input = v.knownAnswer?.input ?? ref.knownAnswer?.input;
    if (!input) {
      this.log.info({ variant: v.name, reference: ref.name }, `variant ${v.name}: answer not compared with ${ref.name} (no knownAnswer input in the manifest)`);
      return;
    }
    const cand = await knownAnswerDetections(this.manifest, v, input, backend);
    const refDets = cand ? await this.referenceAnswer(ref, input) : undefined;
    if (!cand || !refDets) {
      this.log.info({ variant: v.name, reference: ref.name }, `variant ${v.name}: answer not compared with ${ref.name} (the known-answer input ${input} does not fit both, or ${ref.name} cannot open here)`);
      return;
    }
    const r = knownAnswerAgreement(v.name, ref.name, refDets, cand, this.opts.settings.selection.minAgreement ?? DEFAULT_MIN_AGREEMENT);
    if (!r.ok) {
      throw new AgentError('MODEL_MISMATCH', `variant ${v.name} disagrees with its reference on the known-answer input: ${r.reason}`, {
        fix: `the file of ${v.name} does not compute what ${ref.name} does (a broken quantisation or conversion); another variant is tried. Re-create it (edge-agent optimize) or remove it from the manifest`,
      });
    }
    this.log.info({ variant: v.name, reference: ref.name, agreement: r.agreement.value, detections: r.agreement.reference }, `variant ${v.name} agrees with ${ref.name} on the known-answer input`);
  }

  /** The reference's own detections on a known-answer input: opened once, run, closed at once. */
  private async referenceAnswer(ref: VariantSpec, input: string): Promise<Detection[] | undefined> {
    const key = `${ref.sha256}:${input}`;
    if (this.refAnswers.has(key)) return this.refAnswers.get(key);
    let dets: Detection[] | undefined;
    try {
      const o = await this.openVariant(ref.name, { verify: false, thread: 'main' });
      try {
        dets = await knownAnswerDetections(this.manifest, ref, input, o.backend);
      } finally {
        await this.release(o.backend);
      }
    } catch (err) {
      this.log.warn({ err, reference: ref.name }, `reference ${ref.name} could not be opened to compare answers`);
    }
    this.refAnswers.set(key, dets);
    return dets;
  }

  /** The agent's sessions: its thread, pinning, and frames packed in the inference thread where that pays. */
  private openForLoop(name: string, verify: boolean): Promise<OpenedVariant> {
    return this.openVariant(name, { verify, pack: packInInferenceThread() });
  }

  private track(b: InferenceBackend): InferenceBackend {
    this.live.add(b);
    const close = b.close.bind(b);
    let closing: Promise<void> | undefined;
    b.close = () => {
      this.live.delete(b);
      closing ??= close();
      return closing;
    };
    return b;
  }

  private mustRun(): ModelChoice {
    if (!this.current) throw new AgentError('INTERNAL', 'the model host has no running model (open() first)');
    return this.current;
  }

  /** Says which thread the opened backend really runs its calls in (and the CPU it is pinned to), and why. */
  private logInferenceThread(opened: OpenedVariant): void {
    const runs = opened.backend.runsIn?.() ?? 'main';
    const pin = this.pinning ?? { reason: 'not resolved' };
    const pinned = opened.backend.pinnedCpu?.();
    const setting = this.opts.settings.pinInferenceThread;
    const log = this.opts.log;
    if (pinned !== undefined) log.info({ inferenceCpu: pinned }, `inference thread pinned to CPU ${pinned} (${pin.reason})`);
    else if (pin.cpu !== undefined && opened.variant.runtime !== 'onnxruntime') log.info(`inference thread not pinned (model.pinInferenceThread applies to ONNX Runtime's worker, not the ${opened.variant.runtime} runtime's own thread)`);
    else if (pin.cpu === undefined && (runs === 'worker' || setting !== 'auto')) log.info(`inference thread not pinned (${pin.reason})`);
    const wanted = this.inferenceThread();
    if (runs === wanted.thread) log.info({ inferenceThread: runs }, `inference runs in the ${runs} thread (${wanted.reason})`);
    else if (opened.variant.runtime !== 'onnxruntime') log.info({ inferenceThread: runs }, `inference runs in the ${runs} thread (the ${opened.variant.runtime} runtime's own; model.inferenceThread applies to ONNX Runtime)`);
    else log.warn({ inferenceThread: runs, wanted: wanted.thread }, `inference runs in the ${runs} thread, not the ${wanted.thread} thread asked for (${wanted.reason}): the compiled worker is missing, run \`npm run build\``);
  }
}
