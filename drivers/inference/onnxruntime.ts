import { existsSync } from 'node:fs';
import type { InferenceSession as OrtSession, Tensor as OrtTensor } from 'onnxruntime-node';
import { AgentError, messageOf } from '../../agent/errors.js';
import type { Logger } from '../../agent/log.js';
import { silentLogger } from '../../agent/log.js';
import type {
  AcceleratorKind,
  BackendLoadOptions,
  InferenceBackend,
  InputData,
  OutputTensor,
  TensorDType,
  TensorInfo,
} from '../../agent/types.js';

type Ort = typeof import('onnxruntime-node');

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
  private session: OrtSession | undefined;
  private ort: Ort | undefined;
  private ran: AcceleratorKind = 'cpu';
  private inInfo: TensorInfo[] = [];
  private outInfo: TensorInfo[] = [];
  private shapes = new Map<string, number[]>();
  /** Why providers better than the one that runs were skipped (for status and doctor). */
  readonly fallbacks: Array<{ provider: string; reason: string }> = [];

  constructor(private readonly log: Logger = silentLogger) {}

  async load(opts: BackendLoadOptions): Promise<void> {
    if (!existsSync(opts.file)) {
      throw new AgentError('MODEL_NOT_FOUND', `model file ${opts.file} does not exist`, { fix: 'check the manifest variant file or --model path' });
    }
    const ort = await loadOrt();
    this.ort = ort;
    let lastErr: unknown;
    for (const provider of providerOrder[opts.accelerator]) {
      try {
        this.session = await ort.InferenceSession.create(opts.file, {
          executionProviders: [provider],
          intraOpNumThreads: opts.threads ?? 1,
          interOpNumThreads: 1,
          executionMode: 'sequential',
          graphOptimizationLevel: 'all',
          // UltraFace-style graphs list initializers as inputs and make ORT print hundreds of warnings.
          logSeverityLevel: 3,
        });
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
    this.inInfo = this.session.inputMetadata.map((m) => toInfo(m));
    this.outInfo = this.session.outputMetadata.map((m) => toInfo(m));
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

  async run(inputs: Record<string, InputData>): Promise<Record<string, OutputTensor>> {
    const session = this.session;
    const ort = this.ort;
    if (!session || !ort) throw new AgentError('BACKEND_FAILED', 'onnxruntime backend used before load()', { fix: 'this is a bug: report it' });
    const feeds: Record<string, OrtTensor> = {};
    for (const info of this.inInfo) {
      const data = inputs[info.name];
      if (!data) throw new AgentError('MODEL_MISMATCH', `no data for model input "${info.name}"`, { fix: 'check input.name in the manifest' });
      feeds[info.name] = new ort.Tensor(ortType(info.dtype), data as Float32Array, this.shapes.get(info.name)!);
    }
    let results: OrtSession.ReturnType;
    try {
      results = await session.run(feeds);
    } catch (err) {
      throw new AgentError('BACKEND_FAILED', `inference failed: ${messageOf(err).split('\n')[0]}`, { cause: err });
    }
    const out: Record<string, OutputTensor> = {};
    for (const [name, t] of Object.entries(results)) {
      const tensor = t as OrtTensor;
      out[name] = { data: toFloat32(tensor.data), dims: tensor.dims.map(Number) };
    }
    return out;
  }

  async close(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    await s?.release();
  }
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

function toInfo(m: OrtSession.ValueMetadata): TensorInfo {
  if (!m.isTensor) return { name: m.name, shape: [], dtype: 'float32' };
  return {
    name: m.name,
    shape: m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)),
    dtype: fromOrtType(m.type),
  };
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
