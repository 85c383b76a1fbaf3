/**
 * Bindings to the TensorFlow Lite C API (tensorflow/lite/c/c_api.h, TF 2.9) through koffi.
 *
 * Why this and not an npm TFLite wrapper:
 * - node-tflite@0.0.2 bundles TFLite 2.2 for linux x86_64 only, has no delegate API (so no XNNPACK and no
 *   Edge TPU), reports neither tensor names nor quantisation parameters, and refuses newer op versions
 *   (CONV_2D v5).
 * - tfjs-tflite-node@0.0.2 is a tfjs wrapper (needs @tensorflow/tfjs-node), but it ships the plain C library
 *   `libtensorflowlite_c.so` 2.9 for linux amd64 and arm64, which exports TfLiteInterpreterOptionsAddDelegate,
 *   the XNNPACK delegate and TfLiteTensorQuantizationParams (checked with `nm -D`).
 * - koffi is a prebuilt FFI (no compiler on the device) that can call that library and libedgetpu directly.
 * So we load that library (or a system one, or EDGE_AGENT_TFLITE_LIB) and call the C API ourselves.
 */
import { existsSync } from 'node:fs';
import { arch } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';
import { AgentError, messageOf } from '../../../agent/errors.js';

/** Opaque C pointers (koffi 3 passes pointers as BigInt). */
export type Ptr = bigint | null;

export interface TfliteApi {
  path: string;
  version: string;
  TfLiteModelCreateFromFile(file: string): Ptr;
  TfLiteModelDelete(m: Ptr): void;
  TfLiteInterpreterOptionsCreate(): Ptr;
  TfLiteInterpreterOptionsDelete(o: Ptr): void;
  TfLiteInterpreterOptionsSetNumThreads(o: Ptr, n: number): void;
  TfLiteInterpreterOptionsAddDelegate(o: Ptr, d: Ptr): void;
  TfLiteInterpreterOptionsSetErrorReporter(o: Ptr, cb: unknown, user: Ptr): void;
  TfLiteInterpreterCreate(m: Ptr, o: Ptr): Ptr;
  TfLiteInterpreterDelete(i: Ptr): void;
  TfLiteInterpreterGetInputTensorCount(i: Ptr): number;
  TfLiteInterpreterGetInputTensor(i: Ptr, k: number): Ptr;
  TfLiteInterpreterGetOutputTensorCount(i: Ptr): number;
  TfLiteInterpreterGetOutputTensor(i: Ptr, k: number): Ptr;
  TfLiteInterpreterAllocateTensors(i: Ptr): number;
  TfLiteInterpreterResizeInputTensor(i: Ptr, k: number, dims: Int32Array, n: number): number;
  /** Invoke on a koffi worker thread, so a 100 ms inference does not stall the event loop. */
  invokeAsync(i: Ptr): Promise<number>;
  TfLiteTensorType(t: Ptr): number;
  TfLiteTensorNumDims(t: Ptr): number;
  TfLiteTensorDim(t: Ptr, k: number): number;
  TfLiteTensorByteSize(t: Ptr): number | bigint;
  TfLiteTensorName(t: Ptr): string;
  TfLiteTensorQuantizationParams(t: Ptr): { scale: number; zero_point: number };
  TfLiteTensorCopyFromBuffer(t: Ptr, src: ArrayBufferView, n: number): number;
  TfLiteTensorCopyToBuffer(t: Ptr, dst: ArrayBufferView, n: number): number;
  /** XNNPACK delegate, or null when this build does not export it. */
  xnnpackCreate: ((threads: number) => Ptr) | null;
  xnnpackDelete: ((d: Ptr) => void) | null;
  /** Registers an error reporter; returns the koffi callback handle (unregister with koffi.unregister). */
  makeReporter(onMessage: (msg: string) => void): unknown;
}

/** TfLiteType values from c_api_types.h. */
export const TfLiteType = { float32: 1, int32: 2, uint8: 3, int64: 4, int16: 7, int8: 9, float16: 10 } as const;
/** TfLiteStatus kTfLiteOk. */
export const kTfLiteOk = 0;

/** Candidate library paths, most specific first. */
export function tfliteLibraryCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  if (env.EDGE_AGENT_TFLITE_LIB) out.push(env.EDGE_AGENT_TFLITE_LIB);
  const sub = arch() === 'arm64' ? 'linux_arm64' : arch() === 'x64' ? 'linux_amd64' : undefined;
  if (sub) {
    // Walk up from this file to the node_modules holding tfjs-tflite-node (works from the source tree and dist/).
    let dir = dirname(fileURLToPath(import.meta.url));
    for (let i = 0; i < 8; i++) {
      const p = join(dir, 'node_modules', 'tfjs-tflite-node', 'cc_deps', sub, 'libtensorflowlite_c.so');
      if (existsSync(p)) {
        out.push(p);
        break;
      }
      const up = resolve(dir, '..');
      if (up === dir) break;
      dir = up;
    }
  }
  out.push('libtensorflowlite_c.so');
  return out;
}

let cached: TfliteApi | undefined;

/** Loads the C library once; throws BACKEND_UNAVAILABLE naming what was tried and how to fix it. */
export function loadTfliteApi(): TfliteApi {
  if (cached) return cached;
  const tried: string[] = [];
  for (const path of tfliteLibraryCandidates()) {
    try {
      const lib = koffi.load(path);
      cached = bind(lib, path);
      return cached;
    } catch (err) {
      tried.push(`${path} (${messageOf(err).split('\n')[0]})`);
    }
  }
  throw new AgentError('BACKEND_UNAVAILABLE', `TensorFlow Lite C library not found: tried ${tried.join('; ')}`, {
    fix: 'install the optional dependency tfjs-tflite-node (it ships libtensorflowlite_c.so for linux x64/arm64), or set EDGE_AGENT_TFLITE_LIB to a libtensorflowlite_c.so',
  });
}

let libc: ReturnType<typeof koffi.load> | undefined;
let vsnprintf: ((buf: Uint8Array, n: number, fmt: string, ap: unknown) => number) | undefined;

/**
 * TFLite reports errors through `void (*)(void* user, const char* fmt, va_list args)`. A va_list reaches a
 * function as a pointer on both x86_64 (array type decays) and aarch64 (a >16-byte struct is passed by
 * reference), so it can be handed straight to libc's vsnprintf to format the message.
 */
function formatVa(fmt: string, ap: unknown): string {
  try {
    libc ??= koffi.load('libc.so.6');
    vsnprintf ??= libc.func('int vsnprintf(uint8_t *buf, size_t n, const char *fmt, void *ap)') as unknown as typeof vsnprintf;
    const buf = new Uint8Array(1024);
    const n = vsnprintf!(buf, buf.length, fmt, ap);
    return Buffer.from(buf.subarray(0, Math.max(0, Math.min(n, buf.length - 1)))).toString('utf8');
  } catch {
    return fmt;
  }
}

function bind(lib: ReturnType<typeof koffi.load>, path: string): TfliteApi {
  const Reporter = koffi.proto('void TfLiteErrorReporterFn(void *user, const char *fmt, void *ap)');
  const f = (sig: string) => lib.func(sig);
  const invoke = f('int TfLiteInterpreterInvoke(void *interp)');
  let xnnpackCreate: TfliteApi['xnnpackCreate'] = null;
  let xnnpackDelete: TfliteApi['xnnpackDelete'] = null;
  try {
    const create = lib.func('void *TfLiteXNNPackDelegateCreate(const void *options)');
    lib.func('TfLiteXNNPackDelegateOptionsDefault', 'void', []); // present in every build that has the delegate
    xnnpackDelete = f('void TfLiteXNNPackDelegateDelete(void *d)') as (d: Ptr) => void;
    xnnpackCreate = (threads: number) => {
      // TfLiteXNNPackDelegateOptions (xnnpack_delegate.h) starts with int32_t num_threads; in TF 2.9 it is
      // { int32_t num_threads; uint32_t flags; TfLiteXNNPackDelegateWeightsCache* weights_cache;
      //   bool handle_variable_ops; } and TfLiteXNNPackDelegateOptionsDefault() returns it all zero in this build
      // (no QS8/QU8 flags compiled in). We pass an all-zero block with num_threads set, larger than any
      // version of the struct, instead of taking the by-value return through FFI: zero is the default of
      // every field (no flags, no weights cache), and nothing beyond the real struct is ever read.
      const opts = Buffer.alloc(256);
      // XNNPACK: 0 means no thread pool (the caller's thread only), which is what 1 thread should be.
      opts.writeInt32LE(threads > 1 ? threads : 0, 0);
      return create(opts) as Ptr;
    };
  } catch {
    // An older or minimal build without XNNPACK: the built-in CPU kernels run everything.
  }
  const version = (f('const char *TfLiteVersion()') as () => string)();
  return {
    path,
    version,
    TfLiteModelCreateFromFile: f('void *TfLiteModelCreateFromFile(const char *file)') as TfliteApi['TfLiteModelCreateFromFile'],
    TfLiteModelDelete: f('void TfLiteModelDelete(void *m)') as TfliteApi['TfLiteModelDelete'],
    TfLiteInterpreterOptionsCreate: f('void *TfLiteInterpreterOptionsCreate()') as TfliteApi['TfLiteInterpreterOptionsCreate'],
    TfLiteInterpreterOptionsDelete: f('void TfLiteInterpreterOptionsDelete(void *o)') as TfliteApi['TfLiteInterpreterOptionsDelete'],
    TfLiteInterpreterOptionsSetNumThreads: f('void TfLiteInterpreterOptionsSetNumThreads(void *o, int32_t n)') as TfliteApi['TfLiteInterpreterOptionsSetNumThreads'],
    TfLiteInterpreterOptionsAddDelegate: f('void TfLiteInterpreterOptionsAddDelegate(void *o, void *d)') as TfliteApi['TfLiteInterpreterOptionsAddDelegate'],
    TfLiteInterpreterOptionsSetErrorReporter: lib.func('TfLiteInterpreterOptionsSetErrorReporter', 'void', ['void *', koffi.pointer(Reporter), 'void *']) as TfliteApi['TfLiteInterpreterOptionsSetErrorReporter'],
    TfLiteInterpreterCreate: f('void *TfLiteInterpreterCreate(void *m, void *o)') as TfliteApi['TfLiteInterpreterCreate'],
    TfLiteInterpreterDelete: f('void TfLiteInterpreterDelete(void *i)') as TfliteApi['TfLiteInterpreterDelete'],
    TfLiteInterpreterGetInputTensorCount: f('int32_t TfLiteInterpreterGetInputTensorCount(void *i)') as TfliteApi['TfLiteInterpreterGetInputTensorCount'],
    TfLiteInterpreterGetInputTensor: f('void *TfLiteInterpreterGetInputTensor(void *i, int32_t k)') as TfliteApi['TfLiteInterpreterGetInputTensor'],
    TfLiteInterpreterGetOutputTensorCount: f('int32_t TfLiteInterpreterGetOutputTensorCount(void *i)') as TfliteApi['TfLiteInterpreterGetOutputTensorCount'],
    TfLiteInterpreterGetOutputTensor: f('void *TfLiteInterpreterGetOutputTensor(void *i, int32_t k)') as TfliteApi['TfLiteInterpreterGetOutputTensor'],
    TfLiteInterpreterResizeInputTensor: f('int TfLiteInterpreterResizeInputTensor(void *i, int32_t k, const int *dims, int32_t n)') as TfliteApi['TfLiteInterpreterResizeInputTensor'],
    TfLiteInterpreterAllocateTensors: f('int TfLiteInterpreterAllocateTensors(void *i)') as TfliteApi['TfLiteInterpreterAllocateTensors'],
    invokeAsync: (i: Ptr) =>
      new Promise<number>((res, rej) => {
        (invoke as unknown as { async: (i: Ptr, cb: (err: unknown, r: number) => void) => void }).async(i, (err, r) => (err ? rej(err) : res(r)));
      }),
    TfLiteTensorType: f('int TfLiteTensorType(void *t)') as TfliteApi['TfLiteTensorType'],
    TfLiteTensorNumDims: f('int32_t TfLiteTensorNumDims(void *t)') as TfliteApi['TfLiteTensorNumDims'],
    TfLiteTensorDim: f('int32_t TfLiteTensorDim(void *t, int32_t k)') as TfliteApi['TfLiteTensorDim'],
    TfLiteTensorByteSize: f('size_t TfLiteTensorByteSize(void *t)') as TfliteApi['TfLiteTensorByteSize'],
    TfLiteTensorName: f('const char *TfLiteTensorName(void *t)') as TfliteApi['TfLiteTensorName'],
    TfLiteTensorQuantizationParams: lib.func('TfLiteTensorQuantizationParams', koffi.struct('TfLiteQuantizationParams', { scale: 'float', zero_point: 'int32_t' }), ['void *']) as TfliteApi['TfLiteTensorQuantizationParams'],
    TfLiteTensorCopyFromBuffer: f('int TfLiteTensorCopyFromBuffer(void *t, const void *src, size_t n)') as TfliteApi['TfLiteTensorCopyFromBuffer'],
    TfLiteTensorCopyToBuffer: f('int TfLiteTensorCopyToBuffer(void *t, void *dst, size_t n)') as TfliteApi['TfLiteTensorCopyToBuffer'],
    xnnpackCreate,
    xnnpackDelete,
    makeReporter: (onMessage) => koffi.register((_user: unknown, fmt: string, ap: unknown) => onMessage(formatVa(fmt, ap)), koffi.pointer(Reporter)),
  };
}
