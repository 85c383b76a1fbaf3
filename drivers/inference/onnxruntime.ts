import { existsSync } from 'node:fs';
import type { InferenceSession as OrtSession, Tensor as OrtTensor } from 'onnxruntime-node';
import { AgentError, messageOf } from '../../agent/errors.js';
import type { Logger } from '../../agent/log.js';
import { silentLogger } from '../../agent/log.js';
import { existsSync as fileExists } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { MovedFrame, MovedInput, TensorMeta, WorkerReply, WorkerRequest } from './onnxruntime-protocol.js';
import { pinThread } from './affinity.js';
import { MainThreadGuard, threadRunMs, type GuardThresholds } from './main-thread-guard.js';
import type {
  AcceleratorKind,
  BackendLoadOptions,
  FramePixels,
  InferenceBackend,
  InputData,
  OutputTensor,
  PackSpec,
  TensorDType,
  TensorInfo,
} from '../../agent/types.js';

type Ort = typeof import('onnxruntime-node');
type Feeds = Record<string, { type: string; dims: number[]; data: ArrayBufferView }>;
type Results = Record<string, { dims: number[]; data: unknown }>;

/** A loaded session, in this thread or in a worker thread. */
interface SessionHandle {
  inputs: TensorMeta[];
  outputs: TensorMeta[];
  /** Kernel thread id of the worker thread running the session (worker mode). */
  tid?: number;
  run(feeds: Feeds): Promise<Results>;
  /** Worker mode: makes the worker's packer, after which runFrame() packs frames for `feed` there. */
  packFrames?(spec: PackSpec): Promise<void>;
  runFrame?(frame: FramePixels, feed: { name: string; type: string; dims: number[] }): Promise<Results>;
  close(): Promise<void>;
}

export interface OnnxRuntimeOptions {
  /**
   * Run the session in a worker thread (default: yes when the compiled worker exists). onnxruntime-node's
   * run() blocks its thread for the whole inference; in a worker, the frame loop keeps reading, packing and
   * decoding the neighbouring frames meanwhile.
   */
  worker?: boolean;
  /** When the main thread is kept off a pinned inference thread's CPU (./main-thread-guard.ts; tests lower them). */
  mainThreadGuard?: GuardThresholds;
}

/** Execution providers to try for a wanted accelerator, best first. CPU is always last. */
const providerOrder: Record<AcceleratorKind, Array<'tensorrt' | 'cuda' | 'cpu'>> = {
  tensorrt: ['tensorrt', 'cuda', 'cpu'],
  cuda: ['cuda', 'cpu'],
  cpu: ['cpu'],
  edgetpu: ['cpu'],
};

let ortModule: Promise<Ort> | undefined;
/** Loads onnxruntime-node once; a load failure is a typed, explained error. */
export function loadOrt(): Promise<Ort> {
  ortModule ??= import('onnxruntime-node').catch((err: unknown) => {
    ortModule = undefined;
    throw new AgentError('BACKEND_UNAVAILABLE', `onnxruntime-node cannot be loaded (${messageOf(err).split('\n')[0]})`, {
      fix: 'run `ONNXRUNTIME_NODE_INSTALL=skip npm ci` in the agent folder',
      cause: err,
    });
  });
  return ortModule;
}

/**
 * ONNX Runtime backend (onnxruntime-node). A missing execution provider makes session creation fail on this
 * package rather than falling back, so we walk the provider list ourselves and record why each one was skipped:
 * never a silent CPU fallback.
 */
export class OnnxRuntimeBackend implements InferenceBackend {
  readonly type = 'onnxruntime';
  private session: SessionHandle | undefined;
  private ran: AcceleratorKind = 'cpu';
  private inInfo: TensorInfo[] = [];
  private outInfo: TensorInfo[] = [];
  private shapes = new Map<string, number[]>();
  /** Why providers better than the one that runs were skipped (for status and doctor). */
  readonly fallbacks: Array<{ provider: string; reason: string }> = [];

  private readonly useWorker: boolean;
  private thread: 'worker' | 'main' = 'main';
  private pinned: number | undefined;
  /** Keeps the main thread off the pinned inference thread's CPU while inference is the bottleneck. */
  private guard: MainThreadGuard | undefined;
  private readonly guardThresholds: GuardThresholds | undefined;
  /** Frames are packed in the worker (packFrames() succeeded for the loaded session). */
  private packing = false;

  constructor(
    private readonly log: Logger = silentLogger,
    opts: OnnxRuntimeOptions = {},
  ) {
    this.useWorker = opts.worker ?? workerFile() !== undefined;
    this.guardThresholds = opts.mainThreadGuard;
  }

  async load(opts: BackendLoadOptions): Promise<void> {
    if (!existsSync(opts.file)) {
      throw new AgentError('MODEL_NOT_FOUND', `model file ${opts.file} does not exist`, { fix: 'check the manifest variant file or --model path' });
    }
    const useWorker = opts.thread ? opts.thread === 'worker' && workerFile() !== undefined : this.useWorker;
    // In worker mode the library is loaded only in the worker; here we just check it is installed.
    if (useWorker) ortInstalled();
    else await loadOrt();
    let lastErr: unknown;
    for (const provider of providerOrder[opts.accelerator]) {
      const options = {
        executionProviders: [provider],
        intraOpNumThreads: opts.threads ?? 1,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        // UltraFace-style graphs list initializers as inputs and make ORT print hundreds of warnings.
        logSeverityLevel: 3,
      };
      try {
        this.packing = false;
        this.session = useWorker ? await openInWorker(opts.file, options) : await openHere(opts.file, options);
        this.thread = useWorker ? 'worker' : 'main';
        this.ran = provider;
        break;
      } catch (err) {
        lastErr = err;
        const reason = messageOf(err).split('\n')[0]!;
        if (provider === 'cpu') break;
        this.fallbacks.push({ provider, reason });
        this.log.warn({ provider, reason }, `execution provider ${provider} unavailable, trying the next one`);
      }
    }
    if (!this.session) throw modelLoadError(opts.file, lastErr);
    this.pinned = undefined;
    this.guard?.stop();
    this.guard = undefined;
    if (opts.pinCpu !== undefined && this.thread === 'worker') {
      const tid = this.session.tid;
      const why = tid === undefined ? 'the worker did not report its thread id' : pinThread(tid, opts.pinCpu);
      if (why) this.log.warn({ cpu: opts.pinCpu, reason: why }, `inference thread not pinned to CPU ${opts.pinCpu}: ${why}`);
      else {
        this.pinned = opts.pinCpu;
        // While the inference thread is the bottleneck, the frame loop's thread (woken by each answer) keeps off its CPU.
        this.guard = new MainThreadGuard(opts.pinCpu, this.log, () => threadRunMs(tid!), this.guardThresholds);
        this.guard.start();
      }
    }
    this.inInfo = this.session.inputs.map((m) => toInfo(m));
    this.outInfo = this.session.outputs.map((m) => toInfo(m));
    for (const info of this.inInfo) {
      const wanted = opts.inputShapes?.[info.name];
      if (info.shape.some((d) => d < 0)) {
        if (!wanted) {
          throw new AgentError('MODEL_MISMATCH', `model ${opts.file} input "${info.name}" has dynamic shape [${info.shape.join(',')}]`, {
            fix: 'give the full input shape in the manifest (input.shape)',
          });
        }
        this.shapes.set(info.name, wanted);
      } else this.shapes.set(info.name, info.shape);
    }
  }

  inputs(): TensorInfo[] {
    return this.inInfo;
  }

  outputs(): TensorInfo[] {
    return this.outInfo;
  }

  accelerator(): AcceleratorKind {
    return this.ran;
  }

  /** The CPU the inference thread is pinned to, when it is. */
  pinnedCpu(): number | undefined {
    return this.pinned;
  }

  /** Whether the main thread is kept off the pinned inference thread's CPU now (./main-thread-guard.ts). */
  mainThreadKeptOff(): boolean {
    return this.guard?.holding() ?? false;
  }

  /** The thread the loaded session runs its calls in. */
  runsIn(): 'worker' | 'main' {
    return this.thread;
  }

  /**
   * The worker runs calls one after another in arrival order; run() copies the inputs before it returns its promise,
   * so the caller may reuse its buffers at once.
   */
  maxInFlight(): number {
    return this.thread === 'worker' ? 2 : 1;
  }

  async run(inputs: Record<string, InputData>): Promise<Record<string, OutputTensor>> {
    const session = this.loaded();
    const feeds: Feeds = {};
    for (const info of this.inInfo) {
      const data = inputs[info.name];
      if (!data) throw new AgentError('MODEL_MISMATCH', `no data for model input "${info.name}"`, { fix: 'check input.name in the manifest' });
      feeds[info.name] = { type: ortType(info.dtype), dims: this.shapes.get(info.name)!, data };
    }
    return outputsOf(session.run(feeds));
  }

  /**
   * In worker mode, frames may be packed in the worker (a model with one input): the frame loop's thread then copies
   * 8-bit pixels instead of packing and copying a float32 tensor four times their size, and the tensor is written in
   * the inference thread's cache just before the session reads it. The agent asks for it on boards of 1-2 CPUs
   * (packInInferenceThread() has the rule and the figures). A session in the main thread says no: the loop packs.
   */
  async packFrames(spec: PackSpec): Promise<boolean> {
    const session = this.loaded();
    this.packing = false;
    if (!session.packFrames || this.inInfo.length !== 1 || this.inInfo[0]!.name !== spec.input.name) return false;
    try {
      await session.packFrames(spec);
    } catch (err) {
      // An input the packer cannot fill (not 3 colour channels, another dtype): the frame loop's packer says why.
      this.log.debug({ err: messageOf(err) }, 'frames not packed in the worker');
      return false;
    }
    this.packing = true;
    return true;
  }

  packsFrames(): boolean {
    return this.packing;
  }

  async runFrame(frame: FramePixels): Promise<Record<string, OutputTensor>> {
    const session = this.loaded();
    const info = this.inInfo[0]!;
    if (!this.packing || !session.runFrame) throw new AgentError('BACKEND_FAILED', 'runFrame() without packFrames()', { fix: 'this is a bug: report it' });
    return outputsOf(session.runFrame(frame, { name: info.name, type: ortType(info.dtype), dims: this.shapes.get(info.name)! }));
  }

  private loaded(): SessionHandle {
    if (!this.session) throw new AgentError('BACKEND_FAILED', 'onnxruntime backend used before load()', { fix: 'this is a bug: report it' });
    return this.session;
  }

  async close(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    this.pinned = undefined;
    this.guard?.stop();
    this.guard = undefined;
    this.packing = false;
    await s?.close();
  }
}

/** A session's results as the agent's output tensors; a failed call is a typed error. */
async function outputsOf(call: Promise<Results>): Promise<Record<string, OutputTensor>> {
  let results: Results;
  try {
    results = await call;
  } catch (err) {
    throw new AgentError('BACKEND_FAILED', `inference failed: ${messageOf(err).split('\n')[0]}`, { cause: err });
  }
  const out: Record<string, OutputTensor> = {};
  for (const [name, t] of Object.entries(results)) out[name] = { data: toFloat32(t.data), dims: t.dims };
  return out;
}

function ortInstalled(): void {
  try {
    createRequire(import.meta.url).resolve('onnxruntime-node');
  } catch (err) {
    throw new AgentError('BACKEND_UNAVAILABLE', 'onnxruntime-node is not installed', { fix: 'run `ONNXRUNTIME_NODE_INSTALL=skip npm ci` in the agent folder', cause: err });
  }
}

/** The compiled worker next to this module (dist/), or dist/ when running from the .ts sources (tests). */
function workerFile(): string | undefined {
  const here = fileURLToPath(import.meta.url);
  const candidate = here.endsWith('.js')
    ? here.replace(/onnxruntime\.js$/, 'onnxruntime-worker.js')
    : here.replace(/\/drivers\/inference\/onnxruntime\.ts$/, '/dist/drivers/inference/onnxruntime-worker.js');
  return fileExists(candidate) ? candidate : undefined;
}

async function openHere(file: string, options: Record<string, unknown>): Promise<SessionHandle> {
  const ort = await loadOrt();
  const session = await ort.InferenceSession.create(file, options as OrtSession.SessionOptions);
  const meta = (list: readonly OrtSession.ValueMetadata[]): TensorMeta[] =>
    list.map((v) => (v.isTensor ? { name: v.name, type: v.type, shape: v.shape.map((d) => (typeof d === 'number' ? d : -1)) } : { name: v.name, type: 'float32', shape: [] }));
  return {
    inputs: meta(session.inputMetadata),
    outputs: meta(session.outputMetadata),
    run: async (feeds) => {
      const t: Record<string, OrtTensor> = {};
      for (const [name, f] of Object.entries(feeds)) t[name] = new ort.Tensor(f.type as 'float32', f.data as Float32Array, f.dims);
      const res = await session.run(t);
      return Object.fromEntries(Object.entries(res).map(([k, v]) => [k, { dims: (v as OrtTensor).dims.map(Number), data: (v as OrtTensor).data }]));
    },
    close: () => session.release(),
  };
}

/** How long close() waits for the worker to answer anything (queued calls, then the close itself) before terminating it. */
const CLOSE_GRACE_MS = 2_000;

async function openInWorker(file: string, options: Record<string, unknown>): Promise<SessionHandle> {
  const w = new Worker(workerFile()!, { name: 'edge-agent-onnxruntime' });
  w.unref();
  let seq = 0;
  const waits = new Map<number, { resolve: (r: WorkerReply) => void; reject: (e: Error) => void }>();
  let exited: Error | undefined;
  let lastAnswer = performance.now();
  const fail = (err: Error): void => {
    for (const p of waits.values()) p.reject(err);
    waits.clear();
  };
  w.on('message', (r: WorkerReply) => {
    lastAnswer = performance.now();
    const p = waits.get(r.id);
    waits.delete(r.id);
    if (!p) return;
    if (r.ok) p.resolve(r);
    else p.reject(Object.assign(new Error(r.error ?? 'worker error'), { reply: r }));
  });
  w.on('error', (err) => fail(err));
  w.on('exit', (code) => {
    exited = new Error(`the inference thread exited (${code})`);
    fail(exited);
  });
  const call = (m: WorkerRequest, transfer: ArrayBuffer[] = []): Promise<WorkerReply> =>
    new Promise((resolve, reject) => {
      if (exited) return reject(exited); // a post to an exited worker would never be answered
      waits.set(m.id, { resolve, reject });
      w.ref(); // keep the process alive while a call is outstanding
      w.postMessage(m, transfer);
    }).finally(() => {
      if (waits.size === 0) w.unref();
    }) as Promise<WorkerReply>;
  // Input buffers, moved to the worker with each call and moved back with its reply, then reused: one per input
  // per call in flight.
  const pool: ArrayBuffer[] = [];
  /** A pooled buffer holding a copy of these bytes. */
  const moveCopy = (data: ArrayBufferView): ArrayBuffer => {
    const n = data.byteLength;
    const i = pool.findIndex((b) => b.byteLength === n);
    const buf = i >= 0 ? pool.splice(i, 1)[0]! : new ArrayBuffer(n);
    new Uint8Array(buf).set(new Uint8Array(data.buffer, data.byteOffset, n));
    return buf;
  };
  /** Sends a call that moves `moved`, and puts the buffers the worker moves back into the pool, also on failure. */
  const callMoving = async (m: WorkerRequest, moved: ArrayBuffer[]): Promise<Results> => {
    const r = await call(m, moved).catch((err: Error & { reply?: WorkerReply }) => {
      if (err.reply?.inputBuffers) pool.push(...err.reply.inputBuffers);
      throw err;
    });
    if (r.inputBuffers) pool.push(...r.inputBuffers);
    return r.outputs ?? {};
  };
  let meta: WorkerReply;
  try {
    meta = await call({ id: ++seq, op: 'load', file, options });
  } catch (err) {
    await w.terminate();
    throw err;
  }
  return {
    inputs: meta.inputs ?? [],
    outputs: meta.outputsMeta ?? [],
    tid: meta.tid,
    run: async (feeds) => {
      const inputs: Record<string, MovedInput> = {};
      const moved: ArrayBuffer[] = [];
      for (const [name, f] of Object.entries(feeds)) {
        // The copy is made here, in the calling thread, which on a multi-core board runs beside the inference; the
        // worker then runs the session on the bytes as they arrive.
        const buf = moveCopy(f.data);
        moved.push(buf);
        inputs[name] = { type: f.type, dims: f.dims, buffer: buf, ctor: f.data.constructor.name };
      }
      return callMoving({ id: ++seq, op: 'run', inputs }, moved);
    },
    packFrames: async (spec) => {
      await call({ id: ++seq, op: 'packer', spec });
    },
    runFrame: (frame, feed) => {
      const buffer = moveCopy(frame.data);
      const moved: MovedFrame = { buffer, width: frame.width, height: frame.height, format: frame.format, ...feed };
      return callMoving({ id: ++seq, op: 'runFrame', frame: moved }, [buffer]);
    },
    close: async () => {
      // Calls already queued finish first (the worker answers in order, the close last). A worker stuck in a call (a
      // hung accelerator) never answers: once it has gone CLOSE_GRACE_MS without answering anything it is terminated,
      // which also fails the calls still queued at it (the exit handler) instead of leaving them to their deadlines.
      if (!exited) {
        let closed = false;
        const closing = call({ id: ++seq, op: 'close' })
          .catch(() => undefined)
          .then(() => (closed = true));
        lastAnswer = performance.now();
        while (!closed && performance.now() - lastAnswer < CLOSE_GRACE_MS) {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([closing, new Promise<void>((r) => (timer = setTimeout(r, 100)))]);
          clearTimeout(timer);
        }
      }
      await w.terminate();
    },
  };
}

function modelLoadError(file: string, err: unknown): AgentError {
  const msg = messageOf(err).split('\n')[0]!;
  if (/protobuf|parsing failed|Load model .* failed|INVALID_PROTOBUF/i.test(msg)) {
    return new AgentError('MODEL_INVALID', `${file} is not a valid ONNX model (${msg})`, { fix: 'the file is truncated or not an ONNX model: re-export or re-copy it', cause: err });
  }
  if (/NOT_IMPLEMENTED|Could not find an implementation|opset|Unsupported/i.test(msg)) {
    return new AgentError('MODEL_INVALID', `${file} uses an operator this ONNX Runtime cannot run (${msg})`, {
      fix: 're-export the model with a lower opset or supported operators',
      cause: err,
    });
  }
  return new AgentError('MODEL_INVALID', `ONNX Runtime cannot load ${file} (${msg})`, { fix: 'check that the file is a valid ONNX model', cause: err });
}

function toInfo(m: TensorMeta): TensorInfo {
  return { name: m.name, shape: m.shape.map((d) => (d >= 0 ? d : -1)), dtype: fromOrtType(m.type) };
}

function fromOrtType(t: string): TensorDType {
  switch (t) {
    case 'float32':
    case 'float16':
    case 'uint8':
    case 'int8':
    case 'int32':
    case 'int64':
      return t;
    default:
      return 'float32';
  }
}

function ortType(d: TensorDType): 'float32' | 'float16' | 'uint8' | 'int8' | 'int32' | 'int64' {
  return d;
}

function toFloat32(data: unknown): Float32Array {
  if (data instanceof Float32Array) return data;
  if (data instanceof Uint16Array) return halfToFloat(data);
  if (data instanceof BigInt64Array) return Float32Array.from(data, (x) => Number(x));
  if (ArrayBuffer.isView(data)) return Float32Array.from(data as unknown as ArrayLike<number>);
  throw new AgentError('MODEL_MISMATCH', 'model output is not a numeric tensor', { fix: 'use a model whose outputs are tensors' });
}

/** IEEE 754 half -> float, for fp16 models whose outputs stay float16. */
function halfToFloat(h: Uint16Array): Float32Array {
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) {
    const x = h[i]!;
    const s = x & 0x8000 ? -1 : 1;
    const e = (x >> 10) & 0x1f;
    const f = x & 0x3ff;
    out[i] = e === 0 ? s * 2 ** -14 * (f / 1024) : e === 31 ? (f ? NaN : s * Infinity) : s * 2 ** (e - 15) * (1 + f / 1024);
  }
  return out;
}
