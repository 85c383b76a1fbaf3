import { z } from 'zod';
import type { OutputTensor } from '../types.js';
import { finishDetections, scratch } from './finish.js';
import { parseDecoderParams, pickOutput, shapeMismatch } from './params.js';
import { resolveThresholds } from './thresholds.js';
import type { DecodeContext, DecodeFn, DecoderDef } from './types.js';

/**
 * Models whose graph already decodes the priors (UltraFace style): `scores` [1,N,K] (softmaxed, optionally
 * with a background column) and `boxes` [1,N,4]. Only thresholding and NMS are left to do.
 */
const paramsSchema = z
  .object({
    scores: z.string().min(1).default('scores'),
    boxes: z.string().min(1).default('boxes'),
    /** Column of `scores` holding the background class (UltraFace: 0), or null when there is none. */
    backgroundIndex: z.number().int().nonnegative().nullable().default(0),
    /** corners: [x1,y1,x2,y2]; center: [cx,cy,w,h]. */
    boxFormat: z.enum(['corners', 'center']).default('corners'),
    /** true: coordinates are 0..1 of the input; false: input pixels. */
    normalized: z.boolean().default(true),
  })
  .strict();

export type PriorBoxesParams = z.infer<typeof paramsSchema>;

function create(p: PriorBoxesParams): DecodeFn {
  const { cands, kept } = scratch();
  return (outputs: Record<string, OutputTensor>, ctx: DecodeContext) => {
    const s = pickOutput(outputs, p.scores, 'scores', 'prior-boxes');
    const b = pickOutput(outputs, p.boxes, 'boxes', 'prior-boxes');
    const C = ctx.labels.length;
    const K = C + (p.backgroundIndex === null ? 0 : 1);
    if (s.dims.length !== 3 || s.dims[2] !== K) shapeMismatch('prior-boxes', p.scores, s.dims, `[1, N, ${K}] (${C} labels${K > C ? ' + background' : ''})`);
    const N = s.dims[1]!;
    if (b.dims.length !== 3 || b.dims[1] !== N || b.dims[2] !== 4) shapeMismatch('prior-boxes', p.boxes, b.dims, `[1, ${N}, 4]`);
    const thr = resolveThresholds(ctx.spec, ctx.labels);
    const sx = p.normalized ? ctx.inputWidth : 1;
    const sy = p.normalized ? ctx.inputHeight : 1;
    const sd = s.data;
    const bd = b.data;
    cands.reset();
    for (let n = 0; n < N; n++) {
      for (let k = 0; k < K; k++) {
        if (k === p.backgroundIndex) continue;
        const score = sd[n * K + k]!;
        if (score < thr.min) continue;
        const cls = p.backgroundIndex !== null && k > p.backgroundIndex ? k - 1 : k;
        if (score < thr.perClass[cls]!) continue;
        const o = n * 4;
        if (p.boxFormat === 'corners') cands.push(bd[o]! * sx, bd[o + 1]! * sy, bd[o + 2]! * sx, bd[o + 3]! * sy, score, cls);
        else {
          const hw = bd[o + 2]! / 2;
          const hh = bd[o + 3]! / 2;
          cands.push((bd[o]! - hw) * sx, (bd[o + 1]! - hh) * sy, (bd[o]! + hw) * sx, (bd[o + 1]! + hh) * sy, score, cls);
        }
      }
    }
    return finishDetections(cands, ctx, kept);
  };
}

export const priorBoxesDecoder: DecoderDef<PriorBoxesParams> = {
  type: 'prior-boxes',
  summary: 'prior-decoded scores [1,N,K] + boxes [1,N,4] (UltraFace style); NMS here',
  parseParams: (raw) => parseDecoderParams('prior-boxes', paramsSchema, raw),
  create,
};
