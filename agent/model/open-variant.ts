import { AgentError } from '../errors.js';
import type { Logger } from '../log.js';
import type { AcceleratorKind, InferenceBackend } from '../types.js';
import { checkKnownAnswer, type KnownAnswerResult } from './known-answer.js';
import { variantInput, verifyVariantFile, type LoadedManifest, type ManifestInput, type VariantSpec } from './manifest.js';

export type BackendFactory = (runtime: string, log: Logger) => Promise<InferenceBackend>;

export interface OpenedVariant {
  variant: VariantSpec;
  input: ManifestInput;
  backend: InferenceBackend;
  file: string;
  knownAnswer: KnownAnswerResult | undefined;
}

export interface OpenOptions {
  threads: number;
  verify: boolean;
  edgetpuDevice?: string;
  /** Where the inference call runs (see model.inferenceThread); the backend's own default when absent. */
  thread?: 'worker' | 'main';
  /** CPU to pin the backend's own inference thread to (model.pinInferenceThread). */
  pinCpu?: number;
  /** Let a backend with its own inference thread pack the frames there (packInInferenceThread()). */
  packInBackend?: boolean;
  log: Logger;
  createBackend: BackendFactory;
  /**
   * With `verify`: after the known-answer check, compares the variant's answer with its reference's (the model
   * host's agreement check); throws a typed error naming the disagreement when the variant must not run.
   */
  checkAnswer?: (v: VariantSpec, backend: InferenceBackend) => Promise<void>;
}

/**
 * Opens one variant: checks the file's sha256, loads it in its runtime, checks the model's real input against
 * the manifest, and runs the known-answer check. Any failure is a typed error naming the file and the fix.
 */
export async function openVariant(m: LoadedManifest, v: VariantSpec, o: OpenOptions): Promise<OpenedVariant> {
  const file = await verifyVariantFile(m, v);
  const input = variantInput(m, v);
  const backend = await o.createBackend(v.runtime, o.log);
  try {
    await backend.load({ file, accelerator: v.accelerator as AcceleratorKind, threads: o.threads, device: o.edgetpuDevice, thread: o.thread, pinCpu: o.pinCpu, inputShapes: { [input.name]: input.shape } });
    checkInputs(file, input, backend);
    let ka: KnownAnswerResult | undefined;
    if (o.verify && v.knownAnswer) {
      ka = await checkKnownAnswer(m, v, backend);
      if (!ka.ok) throw new AgentError('MODEL_MISMATCH', `variant ${v.name} failed its known-answer check: ${ka.reason}`, { fix: `the ${backend.accelerator()} runtime does not compute this model correctly; another variant is tried` });
    }
    if (o.verify) await o.checkAnswer?.(v, backend);
    // A backend with its own inference thread may pack the frames there (the frame loop then hands it 8-bit pixels).
    if (o.packInBackend) await backend.packFrames?.({ input, quant: backend.inputs().find((i) => i.name === input.name)?.quant });
    return { variant: v, input, backend, file, knownAnswer: ka };
  } catch (err) {
    await backend.close().catch(() => undefined);
    throw err;
  }
}

function checkInputs(file: string, input: ManifestInput, backend: InferenceBackend): void {
  const infos = backend.inputs();
  const info = infos.find((i) => i.name === input.name);
  if (!info) {
    throw new AgentError('MODEL_MISMATCH', `model ${file} has no input "${input.name}" (it has: ${infos.map((i) => i.name).join(', ')})`, { fix: 'correct input.name in the manifest' });
  }
  const same = info.shape.length === input.shape.length && info.shape.every((d, i) => d < 0 || d === input.shape[i]);
  if (!same) {
    throw new AgentError('MODEL_MISMATCH', `model ${file} input "${input.name}" is [${info.shape.join(',')}], the manifest says [${input.shape.join(',')}]`, { fix: 'correct input.shape in the manifest' });
  }
  if (info.dtype !== input.dtype) {
    throw new AgentError('MODEL_MISMATCH', `model ${file} input "${input.name}" is ${info.dtype}, the manifest says ${input.dtype}`, { fix: 'correct input.dtype in the manifest' });
  }
}
