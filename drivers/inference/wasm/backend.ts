import { readFileSync, existsSync } from 'node:fs';
import type { InferenceSession, Tensor } from 'onnxruntime-web';
import { AgentError, messageOf } from '../../../agent/errors.js';
import type { Logger } from '../../../agent/log.js';
import { silentLogger } from '../../../agent/log.js';
import type { AcceleratorKind, BackendLoadOptions, InferenceBackend, InputData, OutputTensor, TensorDType, TensorInfo } from '../../../agent/types.js';
import { loadOrtWeb, type OrtWeb } from './ort-web.js';

/**
 * The portable ONNX backend: ONNX Runtime compiled to WebAssembly (npm onnxruntime-web, CPU "wasm" execution
 * provider, SIMD), for boards where onnxruntime-node has no native build: 32-bit Raspberry Pi OS (armhf) above all.
 * It runs the same .onnx files and manifests as the native backend; it is slower (figures in docs/packages.md), which
 * the variant selection sees through the benchmark cache like any other latency.
 *
 * Runs in the calling thread: one WebAssembly thread, as the agent's native backend runs with model.threads = 1.
 * (onnxruntime-web's multi-threading spawns Emscripten pthreads as worker_threads; with 1-4 cores shared with
 * ffmpeg and the frame loop it is not worth the memory on the boards this serves.)
 */
export class WasmOrtBackend implements InferenceBackend {
  readonly type = 'onnxruntime-wasm';
  private ort: OrtWeb | undefined;
  private session: InferenceSession | undefined;
  private inInfo: TensorInfo[] = [];
  private outInfo: TensorInfo[] = [];
  private shapes = new Map<string, number[]>();

  constructor(private readonly log: Logger = silentLogger) {}

  async load(opts: BackendLoadOptions): Promise<void> {
    if (!existsSync(opts.file)) {
      throw new AgentError('MODEL_NOT_FOUND', `model file ${opts.file} does not exist`, { fix: 'check the manifest variant file or --model path' });
    }
    if (opts.accelerator !== 'cpu') {
      throw new AgentError('BACKEND_UNAVAILABLE', `the WebAssembly ONNX backend runs on the CPU only, not ${opts.accelerator}`, { fix: 'use a cpu variant of the model on this board' });
    }
    const ort = (this.ort = await loadOrtWeb());
    if (opts.threads !== undefined && opts.threads > 1) {
      this.log.info({ threads: opts.threads }, 'the WebAssembly backend runs one thread; model.threads ignored');
    }
    try {
      // A Uint8Array, not a path: onnxruntime-web's Node build would otherwise read it with fetch().
      this.session = await ort.InferenceSession.create(new Uint8Array(readFileSync(opts.file)), {
        executionProviders: ['wasm'],
        graphOptimizationLevel: 'all',
        executionMode: 'sequential',
        logSeverityLevel: 3,
      });
    } catch (err) {
      throw new AgentError('MODEL_INVALID', `model ${opts.file} does not load in onnxruntime-web: ${messageOf(err).split('\n')[0]}`, {
        fix: 'check that the file is a valid ONNX model (opset supported by ONNX Runtime 1.30)',
        cause: err,
      });
    }
    const info = (list: readonly InferenceSession.ValueMetadata[]): TensorInfo[] =>
      list.map((v) =>
        v.isTensor ? { name: v.name, dtype: toDType(v.type), shape: v.shape.map((d) => (typeof d === 'number' ? d : -1)) } : { name: v.name, dtype: 'float32', shape: [] },
      );
    this.inInfo = info(this.session.inputMetadata);
    this.outInfo = info(this.session.outputMetadata);
    this.shapes.clear();
    for (const i of this.inInfo) {
      const wanted = opts.inputShapes?.[i.name];
      if (i.shape.some((d) => d < 0)) {
        if (!wanted) {
          throw new AgentError('MODEL_MISMATCH', `model ${opts.file} input "${i.name}" has dynamic shape [${i.shape.join(',')}]`, { fix: 'give the full input shape in the manifest (input.shape)' });
        }
        this.shapes.set(i.name, wanted);
      } else this.shapes.set(i.name, i.shape);
    }
    this.log.info({ file: opts.file }, 'model loaded in onnxruntime-web (WebAssembly, SIMD, 1 thread)');
  }

  inputs(): TensorInfo[] {
    return this.inInfo;
  }

  outputs(): TensorInfo[] {
    return this.outInfo;
  }

  accelerator(): AcceleratorKind {
    return 'cpu';
  }

  runsIn(): 'worker' | 'main' {
    return 'main';
  }

  async run(inputs: Record<string, InputData>): Promise<Record<string, OutputTensor>> {
    const session = this.session;
    const ort = this.ort;
    if (!session || !ort) throw new AgentError('BACKEND_FAILED', 'WebAssembly backend used before load()', { fix: 'this is a bug: report it' });
    const feeds: Record<string, Tensor> = {};
    for (const i of this.inInfo) {
      const data = inputs[i.name];
      if (!data) throw new AgentError('MODEL_MISMATCH', `no data for model input "${i.name}"`, { fix: 'check input.name in the manifest' });
      feeds[i.name] = new ort.Tensor(i.dtype, data as Float32Array, this.shapes.get(i.name)!);
    }
    let res: InferenceSession.ReturnType;
    try {
      res = await session.run(feeds);
    } catch (err) {
      throw new AgentError('BACKEND_FAILED', `inference failed: ${messageOf(err).split('\n')[0]}`, { cause: err });
    }
    const out: Record<string, OutputTensor> = {};
    for (const [name, t] of Object.entries(res)) {
      // Outputs are copied out of the WebAssembly heap (the next run may reuse it).
      out[name] = { data: toFloat32(t.data, t.type), dims: t.dims.map(Number) };
      t.dispose();
    }
    return out;
  }

  async close(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    await s?.release();
  }
}

function toDType(t: string): TensorDType {
  switch (t) {
    case 'float32':
    case 'float16':
    case 'uint8':
    case 'int8':
    case 'int32':
    case 'int64':
      return t;
    default:
      throw new AgentError('MODEL_MISMATCH', `model tensor type ${t} is not supported by the agent`, { fix: 'use a model with float32, float16, (u)int8, int32 or int64 tensors' });
  }
}

/** A copy as float32 (float16 arrives as the raw 16-bit words, int64 as BigInt64Array). */
function toFloat32(data: unknown, type: string): Float32Array {
  if (data instanceof Float32Array) return new Float32Array(data);
  if (type === 'float16' && data instanceof Uint16Array) return Float32Array.from(data, halfToFloat);
  if (data instanceof BigInt64Array) return Float32Array.from(data, (x) => Number(x));
  if (ArrayBuffer.isView(data)) return Float32Array.from(data as unknown as ArrayLike<number>);
  throw new AgentError('MODEL_MISMATCH', 'model output is not a numeric tensor', { fix: 'use a model whose outputs are tensors' });
}

/** IEEE 754 binary16 -> number. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}
