import type { Detection } from '../types.js';
import { Candidates } from './candidates.js';
import { clamp01, sourceMap } from './geometry.js';
import { nms } from './nms.js';
import type { DecodeContext } from './types.js';

/**
 * The common tail of every decoder: NMS per the manifest, then only the survivors become Detection objects,
 * with boxes and keypoints mapped from input pixels to the source picture (0..1, clamped).
 */
export function finishDetections(cands: Candidates, ctx: DecodeContext, kept: Candidates): Detection[] {
  nms(cands, ctx.spec.nms, kept);
  const m = sourceMap(ctx.geometry, ctx.inputWidth, ctx.inputHeight);
  const out: Detection[] = new Array(kept.count);
  const nk = kept.numKeypoints;
  for (let i = 0; i < kept.count; i++) {
    const cls = kept.cls[i]!;
    const d: Detection = {
      classId: cls,
      label: ctx.labels[cls] ?? String(cls),
      score: kept.score[i]!,
      box: [
        clamp01(kept.x1[i]! * m.sx + m.ox),
        clamp01(kept.y1[i]! * m.sy + m.oy),
        clamp01(kept.x2[i]! * m.sx + m.ox),
        clamp01(kept.y2[i]! * m.sy + m.oy),
      ],
    };
    if (nk) {
      const kps: Array<[number, number]> = new Array(nk);
      for (let k = 0; k < nk; k++) {
        const o = (i * nk + k) * 2;
        kps[k] = [clamp01(kept.kps[o]! * m.sx + m.ox), clamp01(kept.kps[o + 1]! * m.sy + m.oy)];
      }
      d.keypoints = kps;
    }
    out[i] = d;
  }
  return out;
}

/** Per-model scratch: the candidate list and the NMS output, reused across frames. */
export function scratch(): { cands: Candidates; kept: Candidates } {
  return { cands: new Candidates(), kept: new Candidates() };
}
