import { readFileSync } from 'node:fs';
import { AgentError } from '../errors.js';
import { prepareDecoder } from '../decode/index.js';
import { inputSize } from '../preprocess/geometry.js';
import type { Detection, InferenceBackend, InputData, TensorDType } from '../types.js';
import { manifestPath, variantInput, type LoadedManifest, type VariantSpec } from './manifest.js';

export interface KnownAnswerResult {
  ok: boolean;
  /** Largest absolute difference seen. */
  maxError: number;
  /** Latency of the check inference, ms: the fastest of three runs after a warm-up one. */
  latencyMs: number;
  reason?: string;
}

/**
 * Runs the manifest's stored input through a loaded backend and compares chosen output values: proof that the
 * accelerator really computes this model (a delegate that silently did nothing, or a wrong build, fails here).
 */
export async function checkKnownAnswer(m: LoadedManifest, v: VariantSpec, backend: InferenceBackend, now: () => number = () => performance.now()): Promise<KnownAnswerResult> {
  const ka = v.knownAnswer;
  if (!ka) return { ok: true, maxError: 0, latencyMs: NaN, reason: 'no known answer in the manifest' };
  const info = backend.inputs()[0];
  if (!info) throw new AgentError('MODEL_MISMATCH', `variant ${v.name} has no inputs`, { fix: 'check the model file' });
  const file = manifestPath(m, ka.input);
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new AgentError('MODEL_NOT_FOUND', `known-answer input ${file} cannot be read`, { fix: 'restore the file or remove knownAnswer from the variant', cause: err });
  }
  const data = typedFromBytes(bytes, info.dtype);
  const expectedLen = info.shape.reduce((a, b) => a * Math.max(1, b), 1);
  if (data.length !== expectedLen) {
    throw new AgentError('MODEL_MISMATCH', `known-answer input ${file} has ${data.length} values, input "${info.name}" needs ${expectedLen}`, { fix: 'regenerate the known answer for this variant' });
  }
  // A recurrent model's state (StatefulBackend) starts from zero for every run, as when the answer was recorded.
  const reset = (): void => (backend as { reset?: () => void }).reset?.();
  reset();
  await backend.run({ [info.name]: data });
  // The fastest of three timed runs: this figure only has to catch an accelerator that is several times too slow,
  // and on a busy board a single run can take three times its usual time.
  let latencyMs = Infinity;
  let out: Awaited<ReturnType<InferenceBackend['run']>> = {};
  for (let i = 0; i < 3; i++) {
    reset();
    const t0 = now();
    out = await backend.run({ [info.name]: data });
    latencyMs = Math.min(latencyMs, now() - t0);
  }
  reset();
  let maxError = 0;
  for (const [name, pairs] of Object.entries(ka.expect)) {
    const o = out[name];
    if (!o) return { ok: false, maxError: Infinity, latencyMs, reason: `output "${name}" is missing` };
    for (const [idx, want] of pairs) {
      const got = o.data[idx];
      if (got === undefined) return { ok: false, maxError: Infinity, latencyMs, reason: `output "${name}" has no element ${idx}` };
      maxError = Math.max(maxError, Math.abs(got - want));
    }
  }
  const ok = maxError <= ka.tolerance;
  return { ok, maxError, latencyMs, reason: ok ? undefined : `outputs differ from the known answer by ${maxError.toPrecision(3)} (tolerance ${ka.tolerance})` };
}

/**
 * The detections a loaded backend gives on a known-answer input (`input`: the manifest-relative file), decoded with
 * the manifest's decoder, boxes on the model input (no letterbox). Undefined when the file does not fit this
 * variant's input (another dtype or size, e.g. a uint8 TFLite variant and a float32 reference): not comparable.
 */
export async function knownAnswerDetections(m: LoadedManifest, v: VariantSpec, input: string, backend: InferenceBackend): Promise<Detection[] | undefined> {
  const spec = variantInput(m, v);
  const info = backend.inputs().find((i) => i.name === spec.name) ?? backend.inputs()[0];
  if (!info) return undefined;
  const file = manifestPath(m, input);
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new AgentError('MODEL_NOT_FOUND', `known-answer input ${file} cannot be read`, { fix: 'restore the file or remove knownAnswer from the variant', cause: err });
  }
  const width = info.dtype === 'float32' ? 4 : info.dtype === 'uint8' || info.dtype === 'int8' ? 1 : 0;
  const expectedLen = info.shape.reduce((a, b) => a * Math.max(1, b), 1);
  if (!width || bytes.length !== expectedLen * width) return undefined;
  const reset = (): void => (backend as { reset?: () => void }).reset?.();
  reset();
  const out = await backend.run({ [info.name]: typedFromBytes(bytes, info.dtype) });
  reset();
  const { width: w, height: h } = inputSize(spec);
  const geometry = { srcWidth: w, srcHeight: h, width: w, height: h, padX: 0, padY: 0, contentWidth: w, contentHeight: h };
  return prepareDecoder(m.decoder, m.labels)(out, { spec: m.decoder, labels: m.labels, inputWidth: w, inputHeight: h, geometry }).map((d) => ({ ...d, box: [...d.box] as Detection['box'] }));
}

function typedFromBytes(b: Buffer, dtype: TensorDType): InputData {
  const ab = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  switch (dtype) {
    case 'float32':
      return new Float32Array(ab);
    case 'uint8':
      return new Uint8Array(ab);
    case 'int8':
      return new Int8Array(ab);
    default:
      throw new AgentError('MODEL_MISMATCH', `known-answer input of dtype ${dtype} is not supported`, { fix: 'use a float32, uint8 or int8 input' });
  }
}
