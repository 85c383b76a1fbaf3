import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import koffi from 'koffi';
import { AgentError } from '../../../agent/errors.js';
import { silentLogger, type Logger } from '../../../agent/log.js';
import type { AcceleratorKind, BackendLoadOptions, InferenceBackend, InputData, OutputTensor, TensorDType, TensorInfo } from '../../../agent/types.js';
import { kTfLiteOk, loadTfliteApi, TfLiteType, type Ptr, type TfliteApi } from './capi.js';
import { createEdgeTpuDelegate, loadEdgeTpuApi, type EdgeTpuApi } from './edgetpu.js';
import { bytesPer, dequantise, quantise } from './quant.js';
import { captureStderr } from './stderr-capture.js';

interface Slot {
  info: TensorInfo;
  tensor: Ptr;
  elements: number;
  bytes: number;
  /** Raw tensor bytes, reused every frame. */
  raw: Uint8Array | Int8Array | Float32Array | Int32Array | BigInt64Array;
}

export interface TfliteBackendDeps {
  loadTflite: () => TfliteApi;
  loadEdgeTpu: () => EdgeTpuApi;
}

const typeNames: Record<number, TensorDType> = {
  [TfLiteType.float32]: 'float32',
  [TfLiteType.uint8]: 'uint8',
  [TfLiteType.int8]: 'int8',
  [TfLiteType.int32]: 'int32',
  [TfLiteType.int64]: 'int64',
  [TfLiteType.float16]: 'float16',
};

/** The custom op every model compiled by edgetpu_compiler contains. */
const EDGETPU_OP = 'edgetpu-custom-op';

/**
 * TensorFlow Lite backend: .tflite models (float, uint8/int8 quantised) on the CPU with XNNPACK, or on a
 * Coral Edge TPU through libedgetpu's delegate. When the Edge TPU is wanted but missing, load() fails with
 * BACKEND_UNAVAILABLE and the reason; the caller (variant selection) then picks a CPU variant: an
 * `_edgetpu.tflite` file cannot run on the CPU, so falling back inside the backend would only fail later.
 */
export class TfliteBackend implements InferenceBackend {
  readonly type = 'tflite';
  private api: TfliteApi | undefined;
  private model: Ptr = null;
  private options: Ptr = null;
  private interp: Ptr = null;
  private xnnpack: Ptr = null;
  private edgetpu: { api: EdgeTpuApi; delegate: Ptr } | undefined;
  private reporter: unknown;
  private messages: string[] = [];
  private ins: Slot[] = [];
  private outs: Slot[] = [];
  private ran: AcceleratorKind = 'cpu';
  private queue: Promise<unknown> = Promise.resolve();
  /** The Edge TPU device really opened (e.g. "usb:0"), when one is. */
  device: string | undefined;

  constructor(
    private readonly log: Logger = silentLogger,
    private readonly deps: TfliteBackendDeps = { loadTflite: loadTfliteApi, loadEdgeTpu: () => loadEdgeTpuApi() },
  ) {}

  async load(opts: BackendLoadOptions): Promise<void> {
    await this.close();
    try {
      await this.loadInner(opts);
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  private async loadInner(opts: BackendLoadOptions): Promise<void> {
    checkModelFile(opts.file);
    const api = this.deps.loadTflite();
    this.api = api;
    this.messages = [];
    const created = captureStderr(() => api.TfLiteModelCreateFromFile(opts.file));
    this.model = created.value;
    if (!this.model) {
      const why = created.text.trim().split('\n').pop()?.replace(/^ERROR: /, '') || 'the flatbuffer does not verify';
      throw new AgentError('MODEL_INVALID', `${opts.file} is not a valid TFLite model (${why}; truncated or corrupt?)`, {
        fix: 'download or copy the model again and check its sha256 against the manifest',
      });
    }
    const compiledForTpu = fileContains(opts.file, EDGETPU_OP);
    this.reporter = api.makeReporter((msg) => {
      this.messages.push(msg.trim());
      if (this.messages.length > 40) this.messages.shift();
    });
    if (opts.accelerator === 'edgetpu') {
      const etpu = this.deps.loadEdgeTpu();
      const { delegate, device } = createEdgeTpuDelegate(etpu, opts.device);
      this.edgetpu = { api: etpu, delegate };
      this.device = device;
      this.ran = 'edgetpu';
      this.log.info({ device, libedgetpu: etpu.version }, 'Edge TPU delegate attached');
      if (!this.createInterpreter(api, opts, delegate)) await this.failLoad(api, opts.file, compiledForTpu);
    } else {
      this.ran = 'cpu';
      // XNNPACK first; some graphs (e.g. quantised LSTMs) make it fail to prepare, then the built-in kernels run alone.
      let ok = false;
      if (api.xnnpackCreate) {
        const create = api.xnnpackCreate;
        this.xnnpack = captureStderr(() => create(opts.threads ?? 1)).value;
        ok = this.createInterpreter(api, opts, this.xnnpack);
        if (!ok) {
          this.log.info({ file: opts.file, reason: firstLine(this.messages.join(' ')) }, 'XNNPACK cannot take this model; using the built-in TFLite kernels');
          this.dropInterpreter(api);
        }
      }
      if (!ok && !this.createInterpreter(api, opts, null)) await this.failLoad(api, opts.file, compiledForTpu);
    }
    this.ins = Array.from({ length: api.TfLiteInterpreterGetInputTensorCount(this.interp) }, (_, k) => this.slot(api.TfLiteInterpreterGetInputTensor(this.interp, k), k, 'input'));
    this.outs = Array.from({ length: api.TfLiteInterpreterGetOutputTensorCount(this.interp) }, (_, k) => this.slot(api.TfLiteInterpreterGetOutputTensor(this.interp, k), k, 'output'));
    this.log.debug({ file: opts.file, tflite: api.version, accelerator: this.ran, xnnpack: Boolean(this.xnnpack), inputs: this.ins.map((s) => s.info), outputs: this.outs.map((s) => s.info) }, 'TFLite model loaded');
  }

  /** Options + interpreter + tensor allocation with one delegate (or none); false when TFLite refuses. */
  private createInterpreter(api: TfliteApi, opts: BackendLoadOptions, delegate: Ptr): boolean {
    this.messages = [];
    this.options = api.TfLiteInterpreterOptionsCreate();
    api.TfLiteInterpreterOptionsSetErrorReporter(this.options, this.reporter, null);
    api.TfLiteInterpreterOptionsSetNumThreads(this.options, opts.threads ?? 1);
    if (delegate) api.TfLiteInterpreterOptionsAddDelegate(this.options, delegate);
    const { value: ok, text } = captureStderr(() => {
      this.interp = api.TfLiteInterpreterCreate(this.model, this.options);
      if (!this.interp) return false;
      this.resizeInputs(api, opts.inputShapes);
      return api.TfLiteInterpreterAllocateTensors(this.interp) === kTfLiteOk;
    });
    for (const line of text.split('\n')) if (line.trim()) this.log.debug({ tflite: line.trim() }, 'TFLite message');
    return ok;
  }

  /** Models with a dynamic batch or size get the manifest's full shape before tensors are allocated. */
  private resizeInputs(api: TfliteApi, shapes: Record<string, number[]> | undefined): void {
    if (!shapes) return;
    for (let k = 0; k < api.TfLiteInterpreterGetInputTensorCount(this.interp); k++) {
      const t = api.TfLiteInterpreterGetInputTensor(this.interp, k);
      const wanted = shapes[api.TfLiteTensorName(t)];
      if (!wanted) continue;
      const dims = Array.from({ length: api.TfLiteTensorNumDims(t) }, (_, d) => api.TfLiteTensorDim(t, d));
      if (dims.length === wanted.length && dims.every((d, i) => d === wanted[i])) continue;
      // Only a batch dimension or a placeholder dimension (1 in a model exported with a dynamic size) is
      // resized: a fixed 128x128 model given a manifest saying 192x192 is a manifest error, reported by the
      // input check, not something to paper over by running the model at a size it was not trained for.
      const resizable = dims.length === wanted.length && dims.every((d, i) => d === wanted[i] || i === 0 || d === 1 || d === -1);
      if (!resizable) continue;
      if (api.TfLiteInterpreterResizeInputTensor(this.interp, k, Int32Array.from(wanted), wanted.length) !== kTfLiteOk) {
        this.messages.push(`cannot resize input ${api.TfLiteTensorName(t)} from [${dims.join(',')}] to [${wanted.join(',')}]`);
      }
    }
  }

  private dropInterpreter(api: TfliteApi): void {
    if (this.interp) api.TfLiteInterpreterDelete(this.interp);
    if (this.options) api.TfLiteInterpreterOptionsDelete(this.options);
    this.interp = this.options = null;
    if (this.xnnpack && api.xnnpackDelete) api.xnnpackDelete(this.xnnpack);
    this.xnnpack = null;
  }

  /** Turns TFLite's reported errors into one typed error, after releasing everything. */
  private async failLoad(api: TfliteApi, file: string, compiledForTpu: boolean): Promise<never> {
    const why = this.messages.join(' ') || 'no message from TFLite';
    const ran = this.ran;
    await this.close();
    if (ran === 'cpu' && (why.includes(EDGETPU_OP) || compiledForTpu)) throw edgeTpuOnCpu(file);
    if (/unresolved custom op|Didn't find op for builtin opcode|Op builtin_code out of range/i.test(why)) {
      throw new AgentError('MODEL_INVALID', `${file} uses an op the TFLite runtime ${api.version} cannot run: ${firstLine(why)}`, {
        fix: 'convert the model with builtin ops only (no SELECT_TF_OPS), or set EDGE_AGENT_TFLITE_LIB to a newer libtensorflowlite_c.so',
      });
    }
    throw new AgentError('BACKEND_FAILED', `TFLite could not prepare ${file}${ran === 'edgetpu' ? ' on the Edge TPU' : ''}: ${firstLine(why)}`, {
      fix: ran === 'edgetpu' ? 'the model must be compiled by edgetpu_compiler for this runtime version; or use a CPU variant' : 'check that the model file is complete and matches the manifest',
    });
  }

  private slot(tensor: Ptr, k: number, kind: string): Slot {
    const api = this.api!;
    const typeId = api.TfLiteTensorType(tensor);
    const dtype = typeNames[typeId];
    const name = api.TfLiteTensorName(tensor) || `${kind}${k}`;
    if (!dtype) {
      throw new AgentError('MODEL_INVALID', `${kind} ${k} ("${name}") has TFLite type ${typeId}, which the agent does not handle`, { fix: 'use a model with float32, uint8, int8, int32 or int64 tensors' });
    }
    const shape = Array.from({ length: api.TfLiteTensorNumDims(tensor) }, (_, d) => api.TfLiteTensorDim(tensor, d));
    const bytes = Number(api.TfLiteTensorByteSize(tensor));
    const elements = bytes / bytesPer(dtype);
    const info: TensorInfo = { name, shape, dtype };
    if (dtype === 'uint8' || dtype === 'int8') {
      const q = api.TfLiteTensorQuantizationParams(tensor);
      if (q.scale > 0) info.quant = { scale: q.scale, zeroPoint: q.zero_point };
    }
    const raw =
      dtype === 'float32' ? new Float32Array(elements)
      : dtype === 'uint8' ? new Uint8Array(elements)
      : dtype === 'int8' ? new Int8Array(elements)
      : dtype === 'int32' ? new Int32Array(elements)
      : dtype === 'int64' ? new BigInt64Array(elements)
      : new Uint8Array(bytes);
    return { info, tensor, elements, bytes, raw };
  }

  inputs(): TensorInfo[] {
    return this.ins.map((s) => s.info);
  }

  outputs(): TensorInfo[] {
    return this.outs.map((s) => s.info);
  }

  accelerator(): AcceleratorKind {
    return this.ran;
  }

  /** TfLiteInterpreterInvoke always runs on a koffi worker thread (capi.ts invokeAsync). */
  runsIn(): 'worker' | 'main' {
    return 'worker';
  }

  /** Runs one inference. Calls are serialised: the interpreter is not re-entrant. */
  run(inputs: Record<string, InputData>): Promise<Record<string, OutputTensor>> {
    const next = this.queue.then(() => this.runNow(inputs));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async runNow(inputs: Record<string, InputData>): Promise<Record<string, OutputTensor>> {
    const api = this.api;
    if (!api || !this.interp) throw new AgentError('BACKEND_FAILED', 'TFLite backend used before load() or after close()', { fix: 'this is a bug in the caller' });
    for (const s of this.ins) this.feed(api, s, inputs[s.info.name]);
    this.messages = [];
    const status = await api.invokeAsync(this.interp);
    if (status !== kTfLiteOk) {
      throw new AgentError('BACKEND_FAILED', `TFLite inference failed (status ${status}): ${firstLine(this.messages.join(' ')) || 'no message'}`, {
        fix: this.ran === 'edgetpu' ? 'check the Coral connection (dmesg) and power; the agent falls back to a CPU variant' : 'check the model and its inputs',
      });
    }
    const out: Record<string, OutputTensor> = {};
    for (const s of this.outs) {
      api.TfLiteTensorCopyToBuffer(s.tensor, s.raw, s.bytes);
      const f = new Float32Array(s.elements);
      if (s.raw instanceof Float32Array) f.set(s.raw);
      else if ((s.raw instanceof Uint8Array || s.raw instanceof Int8Array) && s.info.quant) dequantise(s.raw, s.info.quant, f);
      else if (s.raw instanceof BigInt64Array) for (let i = 0; i < s.elements; i++) f[i] = Number(s.raw[i]);
      else f.set(s.raw as ArrayLike<number>);
      out[s.info.name] = { data: f, dims: s.info.shape.slice() };
    }
    return out;
  }

  private feed(api: TfliteApi, s: Slot, data: InputData | undefined): void {
    const { name, dtype, quant } = s.info;
    if (!data) {
      throw new AgentError('MODEL_MISMATCH', `no data for model input "${name}"`, { fix: `the manifest input name must match the model's inputs: ${this.ins.map((x) => x.info.name).join(', ')}` });
    }
    if (data.length !== s.elements) {
      throw new AgentError('MODEL_MISMATCH', `input "${name}" needs ${s.elements} values [${s.info.shape.join(',')}], got ${data.length}`, { fix: 'make the manifest input shape match the model' });
    }
    let src: ArrayBufferView = data;
    if (dtype === 'float32') {
      if (!(data instanceof Float32Array)) throw mismatchType(name, dtype, data);
    } else if (dtype === 'uint8' || dtype === 'int8') {
      if (data instanceof Float32Array) {
        if (!quant) throw new AgentError('MODEL_MISMATCH', `input "${name}" is ${dtype} without quantisation parameters; float values cannot be converted`, { fix: `set the manifest input dtype to ${dtype}` });
        quantise(data, quant, dtype, s.raw as Uint8Array | Int8Array);
        src = s.raw;
      } else if ((dtype === 'uint8') !== (data instanceof Uint8Array)) {
        throw mismatchType(name, dtype, data);
      }
    } else {
      throw new AgentError('MODEL_MISMATCH', `input "${name}" has dtype ${dtype}, which the agent cannot feed`, { fix: 'use a model with a float32, uint8 or int8 image input' });
    }
    if (api.TfLiteTensorCopyFromBuffer(s.tensor, src, s.bytes) !== kTfLiteOk) {
      throw new AgentError('BACKEND_FAILED', `TFLite refused the data for input "${name}"`, { fix: 'check the manifest input shape and dtype' });
    }
  }

  async close(): Promise<void> {
    await this.queue.catch(() => undefined);
    const api = this.api;
    if (api) {
      if (this.interp) api.TfLiteInterpreterDelete(this.interp);
      if (this.options) api.TfLiteInterpreterOptionsDelete(this.options);
      if (this.model) api.TfLiteModelDelete(this.model);
      // Delegates must outlive the interpreter that uses them.
      if (this.xnnpack && api.xnnpackDelete) api.xnnpackDelete(this.xnnpack);
    }
    if (this.edgetpu?.delegate) this.edgetpu.api.freeDelegate(this.edgetpu.delegate);
    if (this.reporter) koffi.unregister(this.reporter as Parameters<typeof koffi.unregister>[0]);
    this.interp = this.options = this.model = this.xnnpack = null;
    this.edgetpu = undefined;
    this.reporter = undefined;
    this.ins = [];
    this.outs = [];
  }
}

function mismatchType(name: string, dtype: TensorDType, data: InputData): AgentError {
  return new AgentError('MODEL_MISMATCH', `input "${name}" is ${dtype} but got ${data.constructor.name}`, { fix: `set the manifest input dtype to ${dtype === 'float32' ? 'float32' : `${dtype} (or pass float32 to be quantised)`}` });
}

function edgeTpuOnCpu(file: string): AgentError {
  return new AgentError('BACKEND_UNAVAILABLE', `${file} is compiled for the Edge TPU (${EDGETPU_OP}) and cannot run on the CPU`, {
    fix: 'run it with accelerator edgetpu on a machine with a Coral (libedgetpu1-std installed), or use the model\'s CPU variant (the .tflite without _edgetpu)',
  });
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.slice(0, 300);
}

/** A TFLite flatbuffer carries the file identifier "TFL3" at byte offset 4. */
function checkModelFile(file: string): void {
  if (!existsSync(file)) throw new AgentError('MODEL_NOT_FOUND', `model file ${file} does not exist`, { fix: 'check the manifest variant file or --model path' });
  const head = Buffer.alloc(8);
  const fd = openSync(file, 'r');
  let n: number;
  try {
    n = readSync(fd, head, 0, 8, 0);
  } finally {
    closeSync(fd);
  }
  if (n < 8 || head.toString('latin1', 4, 8) !== 'TFL3') {
    throw new AgentError('MODEL_INVALID', `${file} is not a TFLite model (no "TFL3" flatbuffer identifier)`, { fix: 'point the manifest variant at a .tflite file, or set runtime: onnxruntime for an ONNX model' });
  }
}

function fileContains(file: string, needle: string): boolean {
  return readFileSync(file).includes(needle, 0, 'latin1');
}
