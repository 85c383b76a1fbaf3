import { readFileSync } from 'node:fs';
import { AgentError } from '../../agent/errors.js';
import { referenceOf, variantInput, verifyVariantFile, type AgreementSpec, type LoadedManifest, type VariantSpec } from '../../agent/model/manifest.js';
import { compareDetections } from '../../agent/select/agreement.js';
import type { Detection } from '../../agent/types.js';
import { createRunner } from '../../drivers/onnx/index.js';
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
 * Runs an ONNX Runtime variant and its reference on the same frames (each prepared with its own input contract,
 * exactly as the agent prepares camera frames) and compares the decoded detections.
 */
export async function measureAgreement(m: LoadedManifest, variant: VariantSpec, o: MeasureAgreementOptions): Promise<MeasuredAgreement> {
  const ref = o.reference ? m.variants.find((v) => v.name === o.reference) : referenceOf(m.variants, variant);
  if (!ref) {
    throw new AgentError('USAGE', `variant ${variant.name} of model ${m.name} has no reference to compare with`, { fix: 'add an fp32 variant to the manifest, or set "reference" on the variant' });
  }
  for (const v of [variant, ref]) {
    if (v.runtime !== 'onnxruntime') {
      throw new AgentError('USAGE', `variant ${v.name} runs on ${v.runtime}; measuring agreement here needs ONNX Runtime variants`, { fix: 'compare ONNX variants, or measure the TFLite variant with --eval on a labelled scene' });
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
    const runner = await createRunner(readFileSync(file));
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
