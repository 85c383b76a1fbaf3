import type { Candidates } from './candidates.js';

export type NmsMethod = 'hard' | 'weighted' | 'none';

export interface NmsOptions {
  /** Boxes overlapping more than this (IoU strictly greater) are suppressed or merged. */
  iou: number;
  /** When false, only boxes of the same class suppress each other. */
  classAgnostic: boolean;
  method: NmsMethod;
  maxDetections: number;
}

/** Intersection over union of two corner-form boxes; 0 when the union is empty. */
export function iou(ax1: number, ay1: number, ax2: number, ay2: number, bx1: number, by1: number, bx2: number, by2: number): number {
  const iw = Math.min(ax2, bx2) - Math.max(ax1, bx1);
  const ih = Math.min(ay2, by2) - Math.max(ay1, by1);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  const union = Math.max(0, ax2 - ax1) * Math.max(0, ay2 - ay1) + Math.max(0, bx2 - bx1) * Math.max(0, by2 - by1) - inter;
  return union > 0 ? inter / union : 0;
}

function candIou(c: Candidates, i: number, j: number): number {
  return iou(c.x1[i]!, c.y1[i]!, c.x2[i]!, c.y2[i]!, c.x1[j]!, c.y1[j]!, c.x2[j]!, c.y2[j]!);
}

let order = new Uint32Array(256);

/** Candidate indices sorted by descending score (ties: lower index first, so results are deterministic). */
function sortedOrder(c: Candidates): Uint32Array {
  if (order.length < c.count) order = new Uint32Array(Math.max(c.count, order.length * 2));
  const o = order.subarray(0, c.count);
  for (let i = 0; i < c.count; i++) o[i] = i;
  const s = c.score;
  o.sort((a, b) => s[b]! - s[a]! || a - b);
  return o;
}

/**
 * Non-maximum suppression over `c`, writing the survivors (best first) into `out`.
 * - hard: greedy; a box is dropped when it overlaps an already kept box (of the same class unless agnostic).
 * - weighted (MediaPipe style): the best remaining box and every remaining box overlapping it form a cluster;
 *   the output is the score-weighted mean of the cluster's boxes and keypoints, with the best box's score.
 * - none: sort and cap only (the model did NMS itself).
 */
export function nms(c: Candidates, opts: NmsOptions, out: Candidates): void {
  out.reset(c.numKeypoints);
  if (c.count === 0) return;
  const o = sortedOrder(c);
  const max = opts.maxDetections;
  if (opts.method === 'none') {
    for (let r = 0; r < o.length && out.count < max; r++) copy(c, o[r]!, out);
    return;
  }
  if (opts.method === 'hard') {
    // Kept boxes are copied into `out`; each candidate is compared with at most maxDetections kept boxes.
    for (let r = 0; r < o.length && out.count < max; r++) {
      const i = o[r]!;
      let keep = true;
      for (let k = 0; k < out.count; k++) {
        if (!opts.classAgnostic && out.cls[k] !== c.cls[i]) continue;
        if (iou(out.x1[k]!, out.y1[k]!, out.x2[k]!, out.y2[k]!, c.x1[i]!, c.y1[i]!, c.x2[i]!, c.y2[i]!) > opts.iou) {
          keep = false;
          break;
        }
      }
      if (keep) copy(c, i, out);
    }
    return;
  }
  weighted(c, o, opts, out);
}

function copy(c: Candidates, i: number, out: Candidates): void {
  const j = out.push(c.x1[i]!, c.y1[i]!, c.x2[i]!, c.y2[i]!, c.score[i]!, c.cls[i]!);
  for (let k = 0; k < c.numKeypoints; k++) out.setKeypoint(j, k, c.kps[(i * c.numKeypoints + k) * 2]!, c.kps[(i * c.numKeypoints + k) * 2 + 1]!);
}

let taken = new Uint8Array(256);

function weighted(c: Candidates, o: Uint32Array, opts: NmsOptions, out: Candidates): void {
  if (taken.length < c.count) taken = new Uint8Array(Math.max(c.count, taken.length * 2));
  taken.fill(0, 0, c.count);
  const nk = c.numKeypoints;
  for (let r = 0; r < o.length && out.count < opts.maxDetections; r++) {
    const top = o[r]!;
    if (taken[top]) continue;
    let wsum = 0;
    let x1 = 0;
    let y1 = 0;
    let x2 = 0;
    let y2 = 0;
    const j = out.push(0, 0, 0, 0, c.score[top]!, c.cls[top]!);
    for (let k = 0; k < nk; k++) out.setKeypoint(j, k, 0, 0);
    for (let q = r; q < o.length; q++) {
      const i = o[q]!;
      if (taken[i]) continue;
      if (!opts.classAgnostic && c.cls[i] !== c.cls[top]) continue;
      if (i !== top && !(candIou(c, top, i) > opts.iou)) continue;
      taken[i] = 1;
      const w = c.score[i]!;
      wsum += w;
      x1 += c.x1[i]! * w;
      y1 += c.y1[i]! * w;
      x2 += c.x2[i]! * w;
      y2 += c.y2[i]! * w;
      for (let k = 0; k < nk; k++) {
        const src = (i * nk + k) * 2;
        const dst = (j * nk + k) * 2;
        out.kps[dst] = out.kps[dst]! + c.kps[src]! * w;
        out.kps[dst + 1] = out.kps[dst + 1]! + c.kps[src + 1]! * w;
      }
    }
    if (wsum > 0) {
      out.x1[j] = x1 / wsum;
      out.y1[j] = y1 / wsum;
      out.x2[j] = x2 / wsum;
      out.y2[j] = y2 / wsum;
      for (let k = 0; k < nk * 2; k++) out.kps[j * nk * 2 + k] = out.kps[j * nk * 2 + k]! / wsum;
    } else {
      // All scores zero (a threshold of 0): keep the top box as it is.
      out.x1[j] = c.x1[top]!;
      out.y1[j] = c.y1[top]!;
      out.x2[j] = c.x2[top]!;
      out.y2[j] = c.y2[top]!;
      for (let k = 0; k < nk * 2; k++) out.kps[j * nk * 2 + k] = c.kps[top * nk * 2 + k]!;
    }
  }
}
