import { readFileSync } from 'node:fs';
import { AgentError } from '../../agent/errors.js';
import { referenceOf, variantInput, verifyVariantFile, type AgreementSpec, type LoadedManifest, type VariantSpec } from '../../agent/model/manifest.js';
import { compareDetections } from '../../agent/select/agreement.js';
import type { Detection, InputData } from '../../agent/types.js';
import type { ManifestInput } from '../../agent/model/manifest-schema.js';
import { createRunner, type FloatRunner } from '../../drivers/onnx/index.js';
import { backends, createBackend } from '../../agent/app/compose.js';
import { silentLogger } from '../../agent/log.js';
import { detectAll } from './evaluate.js';
import { framesFromFolder, framesFromSource } from './frames.js';

/** Accuracy measured on the device, offline: a variant's detections against its reference's on the user's frames. */
export interface MeasureAgreementOptions {
  /** A folder of images, or a video/stream with a frame count. */
  frames: { dir: string } | { source: string; count: number };
  /** Reference variant name; default referenceOf(). */
  reference?: string;
  /** Words for the dataset field, e.g. "12 held-out frames from ./frames". */
  dataset?: string;
  progress?: (done: number, total: number, stage: string) => void;
}

export interface MeasuredAgreement extends AgreementSpec {
  variant: string;
  referenceSha256: string;
  sha256: string;
}

/**
 * Any other runtime the backend registry opens (TFLite, on the variant's accelerator, as the agent runs it), behind the
 * float-runner interface: the frames' float tensors are quantised by the backend for a uint8/int8 input, its outputs
 * come back dequantised, exactly as the agent's frame loop feeds it.
 */
async function backendRunner(v: VariantSpec, file: string, input: ManifestInput): Promise<FloatRunner> {
  const backend = await createBackend(v.runtime, silentLogger);
  await backend.load({ file, accelerator: v.accelerator, threads: 1, thread: 'main', inputShapes: { [input.name]: input.shape } });
  return {
    inputNames: backend.inputs().map((t) => t.name),
    outputNames: backend.outputs().map((t) => t.name),
    async run(feeds) {
      const ins: Record<string, InputData> = {};
      for (const [k, t] of Object.entries(feeds)) ins[k] = t.data;
      return backend.run(ins);
    },
    release: () => backend.close(),
  };
}

/**
 * Runs a variant (ONNX Runtime directly, any other runtime through the backend registry) and its reference on the same frames (each prepared with its own input contract,
 * exactly as the agent prepares camera frames) and compares the decoded detections.
 */
export async function measureAgreement(m: LoadedManifest, variant: VariantSpec, o: MeasureAgreementOptions): Promise<MeasuredAgreement> {
  const ref = o.reference ? m.variants.find((v) => v.name === o.reference) : referenceOf(m.variants, variant);
  if (!ref) {
    throw new AgentError('USAGE', `variant ${variant.name} of model ${m.name} has no reference to compare with`, { fix: 'add an fp32 variant to the manifest, or set "reference" on the variant' });
  }
  for (const v of [variant, ref]) {
    if (!backends.types().includes(v.runtime)) {
      throw new AgentError('USAGE', `variant ${v.name} runs on ${v.runtime}, which no backend here opens; its agreement cannot be measured`, { fix: `compare variants of the runtimes this agent has: ${backends.types().join(', ')}` });
    }
  }
  const progress = o.progress ?? (() => undefined);
  const results: Detection[][][] = [];
  let frameCount = 0;
  for (const v of [ref, variant]) {
    const file = await verifyVariantFile(m, v);
    const input = variantInput(m, v);
    progress(0, 1, `frames for ${v.name}`);
    const frames = 'dir' in o.frames ? await framesFromFolder(o.frames.dir, input) : await framesFromSource(o.frames.source, o.frames.count, input);
    frameCount = frames.length;
    const runner = v.runtime === 'onnxruntime' ? await createRunner(readFileSync(file)) : await backendRunner(v, file, input);
    try {
      results.push(await detectAll(runner, frames, m, input, input.name, (d, t) => progress(d, t, `detect ${v.name}`)));
    } finally {
      await runner.release();
    }
  }
  const a = compareDetections(results[0]!, results[1]!);
  const where = 'dir' in o.frames ? o.frames.dir : o.frames.source;
  return {
    variant: variant.name,
    sha256: variant.sha256,
    reference: ref.name,
    referenceSha256: ref.sha256,
    value: a.value,
    recall: a.recall,
    precision: a.precision,
    frames: frameCount,
    detections: a.reference,
    meanScoreShift: a.meanScoreShift,
    dataset: o.dataset ?? `${frameCount} frames from ${where}`,
  };
}
