import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { prepareDecoder } from '../../agent/decode/index.js';
import { iou } from '../../agent/decode/nms.js';
import { matchFrame } from '../../agent/select/agreement.js';
import { AgentError, messageOf } from '../../agent/errors.js';
import type { LoadedManifest, ManifestInput } from '../../agent/model/manifest.js';
import { inputSize } from '../../agent/preprocess/geometry.js';
import type { Detection } from '../../agent/types.js';
import type { FloatRunner } from '../../drivers/onnx/index.js';
import type { ModelFrame } from './frames.js';

/** Runs a model on frames and decodes detections with the manifest's decoder (boxes normalised to the source). */
export async function detectAll(runner: FloatRunner, frames: ModelFrame[], m: LoadedManifest, input: ManifestInput, inputName: string, progress?: (done: number, total: number) => void): Promise<Detection[][]> {
  const decode = prepareDecoder(m.decoder, m.labels);
  const { width, height } = inputSize(input);
  const out: Detection[][] = [];
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i]!;
    const res = await runner.run({ [inputName]: f.tensor });
    const dets = decode(res, { spec: m.decoder, labels: m.labels, inputWidth: width, inputHeight: height, geometry: f.geometry });
    out.push(dets.map((d) => ({ ...d, box: [...d.box] as Detection['box'] })));
    progress?.(i + 1, frames.length);
  }
  return out;
}

export interface Agreement {
  /** Fraction of the reference (fp32) detections matched by the candidate at IoU >= 0.5 with the same label. */
  recall: number;
  /** Fraction of the candidate's detections that match a reference detection. */
  precision: number;
  reference: number;
  candidate: number;
  matched: number;
  /** Mean |difference| of matched box corners, in source pixels. */
  meanBoxErrorPx: number;
}

/** Greedy one-to-one matching per frame, highest candidate score first. */
export function agreement(ref: Detection[][], cand: Detection[][], frames: ModelFrame[], iouMin = 0.5): Agreement {
  let matched = 0;
  let nRef = 0;
  let nCand = 0;
  let errSum = 0;
  let errN = 0;
  ref.forEach((r, f) => {
    const c = [...cand[f]!].sort((a, b) => b.score - a.score);
    nRef += r.length;
    nCand += c.length;
    const g = frames[f]!.geometry;
    for (const [x, d] of matchFrame(r, c, iouMin)) {
      matched++;
      const sw = [g.srcWidth, g.srcHeight, g.srcWidth, g.srcHeight];
      for (let k = 0; k < 4; k++) errSum += Math.abs(x.box[k]! - d.box[k]!) * sw[k]!;
      errN += 4;
    }
  });
  return {
    recall: nRef ? matched / nRef : 1,
    precision: nCand ? matched / nCand : 1,
    reference: nRef,
    candidate: nCand,
    matched,
    meanBoxErrorPx: errN ? errSum / errN : 0,
  };
}

/** Ground truth of one frame: boxes normalised 0..1 to the source; `difficult` boxes neither count nor penalise. */
export interface TruthBox {
  label: string;
  box: [number, number, number, number];
  difficult: boolean;
}

/**
 * Loads the demo scene's ground truth (scripts/demo-scene: truth.json for the picture size, boxes.jsonl one line
 * per frame with pixel boxes). A box's label is its `label` field when present, otherwise "defect" for defective
 * parts and "part" for the others; boxes of parts only partly in the picture (full=false) are marked difficult.
 */
export function loadSceneTruth(dir: string, labels: string[]): { video: string; frames: TruthBox[][] } {
  const abs = resolve(dir);
  const files = { video: join(abs, 'conveyor.mp4'), truth: join(abs, 'truth.json'), boxes: join(abs, 'boxes.jsonl') };
  for (const f of Object.values(files)) {
    if (!existsSync(f)) throw new AgentError('SOURCE_NOT_FOUND', `--eval folder ${abs} has no ${f.split('/').pop()}`, { fix: 'give a folder written by make-demo-scene (conveyor.mp4, truth.json, boxes.jsonl)' });
  }
  try {
    const truth = JSON.parse(readFileSync(files.truth, 'utf8')) as { width: number; height: number };
    const lines = readFileSync(files.boxes, 'utf8').split('\n').filter((l) => l.trim());
    const frames: TruthBox[][] = [];
    for (const line of lines) {
      const fb = JSON.parse(line) as { frame: number; boxes: Array<{ x1: number; y1: number; x2: number; y2: number; defect?: boolean; full?: boolean; label?: string }> };
      frames[fb.frame] = fb.boxes.map((b) => {
        const label = b.label ?? (b.defect ? 'defect' : 'part');
        return {
          label,
          box: [b.x1 / truth.width, b.y1 / truth.height, b.x2 / truth.width, b.y2 / truth.height],
          difficult: b.full === false || !labels.includes(label),
        };
      });
    }
    return { video: files.video, frames };
  } catch (err) {
    throw new AgentError('SOURCE_CORRUPT', `cannot read ground truth in ${abs} (${messageOf(err)})`, { fix: 'regenerate the scene with make-demo-scene' });
  }
}

/**
 * mAP@0.5, Pascal VOC style: per class, detections over all frames sorted by score, greedy matching to unused
 * ground truth at IoU >= 0.5, AP = area under the interpolated precision/recall curve (all points); mean over
 * the classes that have ground truth.
 */
export function meanAP(dets: Detection[][], truth: TruthBox[][], labels: string[], iouMin = 0.5): { mAP50: number; perClass: Record<string, number> } {
  const perClass: Record<string, number> = {};
  for (const label of labels) {
    const all: Array<{ f: number; d: Detection }> = [];
    let nGt = 0;
    truth.forEach((t) => (nGt += (t ?? []).filter((b) => b.label === label && !b.difficult).length));
    if (nGt === 0) continue;
    dets.forEach((ds, f) => ds.filter((d) => d.label === label).forEach((d) => all.push({ f, d })));
    all.sort((a, b) => b.d.score - a.d.score);
    const used = truth.map((t) => new Array((t ?? []).length).fill(false) as boolean[]);
    const tp: number[] = [];
    const fp: number[] = [];
    for (const { f, d } of all) {
      const gts = truth[f] ?? [];
      let best = -1;
      let bestIou = iouMin;
      gts.forEach((g, i) => {
        if (g.label !== label) return;
        const v = iou(...g.box, ...d.box);
        if (v >= bestIou) {
          bestIou = v;
          best = i;
        }
      });
      if (best >= 0 && gts[best]!.difficult) continue; // neither right nor wrong
      if (best >= 0 && !used[f]![best]) {
        used[f]![best] = true;
        tp.push(1);
        fp.push(0);
      } else {
        tp.push(0);
        fp.push(1);
      }
    }
    let ctp = 0;
    let cfp = 0;
    const prec: number[] = [];
    const rec: number[] = [];
    for (let i = 0; i < tp.length; i++) {
      ctp += tp[i]!;
      cfp += fp[i]!;
      prec.push(ctp / (ctp + cfp));
      rec.push(ctp / nGt);
    }
    for (let i = prec.length - 2; i >= 0; i--) prec[i] = Math.max(prec[i]!, prec[i + 1]!);
    let ap = 0;
    let prevR = 0;
    for (let i = 0; i < rec.length; i++) {
      ap += (rec[i]! - prevR) * prec[i]!;
      prevR = rec[i]!;
    }
    perClass[label] = ap;
  }
  const vals = Object.values(perClass);
  return { mAP50: vals.length ? vals.reduce((a, b) => a + b, 0) / vals.length : 0, perClass };
}
