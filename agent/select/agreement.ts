import { readFileSync } from 'node:fs';
import { iou } from '../decode/nms.js';
import { AgentError } from '../errors.js';
import { referenceOf, variantInput, verifyVariantFile, type AgreementSpec, type LoadedManifest, type VariantSpec } from '../model/manifest.js';
import type { Detection } from '../types.js';

/**
 * Accuracy measured on the device: a variant's detections compared with its reference's (the fp32 variant it was
 * derived from) on frames of the user's own scene. No ground truth is needed; what is measured is how much of the
 * reference's answer the variant keeps, which is what a quantised or converted copy must preserve.
 */

export const DEFAULT_MIN_AGREEMENT = 0.95;

export interface DetectionAgreement {
  /** Reference detections, variant detections and one-to-one matches (same label, IoU >= iouMin). */
  reference: number;
  candidate: number;
  matched: number;
  /** matched / reference: how much of the reference's answer the variant found. */
  recall: number;
  /** matched / candidate: how much of the variant's answer the reference agrees with. */
  precision: number;
  /** min(recall, precision): a missed and an invented detection both count against it. */
  value: number;
  /** Mean (variant score - reference score) over the matches (0 when none). */
  meanScoreShift: number;
}

/**
 * Greedy one-to-one matching per frame, the variant's detections highest score first, each to the unused reference
 * detection of the same label with the highest IoU >= iouMin. Frames where neither found anything agree fully.
 */
export function compareDetections(ref: readonly Detection[][], cand: readonly Detection[][], iouMin = 0.5): DetectionAgreement {
  if (ref.length !== cand.length) throw new Error(`compareDetections: ${ref.length} reference frames vs ${cand.length} candidate frames`);
  let matched = 0;
  let nRef = 0;
  let nCand = 0;
  let shift = 0;
  ref.forEach((r, f) => {
    const c = [...cand[f]!].sort((a, b) => b.score - a.score);
    nRef += r.length;
    nCand += c.length;
    const used = new Set<number>();
    for (const d of c) {
      let best = -1;
      let bestIou = iouMin;
      r.forEach((x, i) => {
        if (used.has(i) || x.label !== d.label) return;
        const v = iou(...x.box, ...d.box);
        if (v >= bestIou) {
          bestIou = v;
          best = i;
        }
      });
      if (best < 0) continue;
      used.add(best);
      matched++;
      shift += d.score - r[best]!.score;
    }
  });
  const recall = nRef ? matched / nRef : 1;
  const precision = nCand ? matched / nCand : 1;
  return { reference: nRef, candidate: nCand, matched, recall, precision, value: Math.min(recall, precision), meanScoreShift: matched ? shift / matched : 0 };
}

const pct = (x: number): string => `${Math.floor(x * 1000) / 10}`.replace(/\.0$/, '');

/** "int8-cpu agrees 41 % with fp32-cpu on 15 held-out frames: below 95 %" or undefined when the floor is met. */
export function belowFloor(variant: string, a: AgreementSpec, minAgreement: number): string | undefined {
  if (a.value >= minAgreement) return undefined;
  const where = a.dataset ? ` (${a.dataset})` : '';
  return `${variant} agrees ${pct(a.value)} % with ${a.reference} on ${a.frames} frame(s)${where}: below ${pct(minAgreement)} % (recall ${pct(a.recall)} %, precision ${pct(a.precision)} %)`;
}

/**
 * For the known-answer check at start-up (agent/model/known-answer.ts, owned by the model host): compares the
 * detections a variant gives on the known-answer input with the reference variant's detections on the same input.
 * `ok` is false with a one-line reason when they agree less than the floor; "it ran" is not enough.
 */
export function knownAnswerAgreement(variant: string, reference: string, refDets: Detection[], candDets: Detection[], minAgreement = DEFAULT_MIN_AGREEMENT): { ok: boolean; agreement: DetectionAgreement; reason?: string } {
  const a = compareDetections([refDets], [candDets]);
  if (a.value >= minAgreement) return { ok: true, agreement: a };
  return {
    ok: false,
    agreement: a,
    reason: `${variant} found ${a.candidate} detection(s) on the known-answer input, ${reference} ${a.reference}; ${a.matched} match: agreement ${pct(a.value)} % below ${pct(minAgreement)} %`,
  };
}

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
  const { framesFromFolder, framesFromSource } = await import('../optimize/frames.js');
  const { detectAll } = await import('../optimize/evaluate.js');
  const { createRunner } = await import('../../drivers/onnx/index.js');
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
