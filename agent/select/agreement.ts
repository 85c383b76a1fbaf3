import { iou } from '../decode/nms.js';
import type { AgreementSpec } from '../model/manifest.js';
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
 * One frame's one-to-one matches: `cand` in the order given (highest score first), each to the unused `ref` detection
 * of the same label with the highest IoU >= iouMin. Returns [reference, candidate] pairs.
 */
export function matchFrame(ref: readonly Detection[], cand: readonly Detection[], iouMin: number): Array<[Detection, Detection]> {
  const used = new Set<number>();
  const pairs: Array<[Detection, Detection]> = [];
  for (const d of cand) {
    let best = -1;
    let bestIou = iouMin;
    ref.forEach((x, i) => {
      if (used.has(i) || x.label !== d.label) return;
      const v = iou(...x.box, ...d.box);
      if (v >= bestIou) {
        bestIou = v;
        best = i;
      }
    });
    if (best < 0) continue;
    used.add(best);
    pairs.push([ref[best]!, d]);
  }
  return pairs;
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
    for (const [x, d] of matchFrame(r, c, iouMin)) {
      matched++;
      shift += d.score - x.score;
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
