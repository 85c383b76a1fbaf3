import { z } from 'zod';
import type { OutputTensor } from '../types.js';
import { finishDetections, scratch } from './finish.js';
import { parseDecoderParams, pickOutput, shapeMismatch } from './params.js';
import { resolveThresholds } from './thresholds.js';
import type { DecodeContext, DecodeFn, DecoderDef } from './types.js';

/**
 * YOLOX exported without in-graph decoding: one output [1, N, 5+C], rows ordered stride by stride and, in each,
 * row-major over the grid. cx = (t0 + x) * s, cy = (t1 + y) * s, w = exp(t2) * s, h = exp(t3) * s;
 * score = objectness x class score (both sigmoid'ed by the export). `decoded: true` for exports that already
 * output cx, cy, w, h in input pixels.
 */
const paramsSchema = z
  .object({
    output: z.string().min(1).optional(),
    strides: z.array(z.number().int().positive()).min(1).default([8, 16, 32]),
    decoded: z.boolean().default(false),
    scoreActivation: z.enum(['none', 'sigmoid']).default('none'),
  })
  .strict();

export type YoloxParams = z.infer<typeof paramsSchema>;

function create(p: YoloxParams): DecodeFn {
  const { cands, kept } = scratch();
  let grid: Float64Array | undefined; // x, y, stride per row
  let gridFor = '';
  return (outputs: Record<string, OutputTensor>, ctx: DecodeContext) => {
    const t = pickOutput(outputs, p.output, 'output', 'yolox');
    const C = ctx.labels.length;
    const V = 5 + C;
    if (!grid || gridFor !== `${ctx.inputWidth}x${ctx.inputHeight}`) {
      const g: number[] = [];
      for (const s of p.strides) {
        const rows = Math.ceil(ctx.inputHeight / s);
        const cols = Math.ceil(ctx.inputWidth / s);
        for (let y = 0; y < rows; y++) for (let x = 0; x < cols; x++) g.push(x, y, s);
      }
      grid = Float64Array.from(g);
      gridFor = `${ctx.inputWidth}x${ctx.inputHeight}`;
    }
    const N = grid.length / 3;
    if (t.dims.length !== 3 || t.dims[1] !== N || t.dims[2] !== V) {
      shapeMismatch('yolox', p.output ?? 'output', t.dims, `[1, ${N}, ${V}] (grid cells of strides ${p.strides.join('/')}, 4 box values, objectness, ${C} labels)`);
    }
    const thr = resolveThresholds(ctx.spec, ctx.labels);
    const act = p.scoreActivation === 'sigmoid' ? (v: number) => 1 / (1 + Math.exp(-v)) : (v: number) => v;
    const d = t.data;
    cands.reset();
    for (let n = 0; n < N; n++) {
      const o = n * V;
      const obj = act(d[o + 4]!);
      if (obj < thr.min) continue;
      let best = -Infinity;
      let cls = 0;
      for (let c = 0; c < C; c++) {
        const v = d[o + 5 + c]!;
        if (v > best) {
          best = v;
          cls = c;
        }
      }
      const score = obj * act(best);
      if (score < thr.min || score < thr.perClass[cls]!) continue;
      let cx = d[o]!;
      let cy = d[o + 1]!;
      let w = d[o + 2]!;
      let h = d[o + 3]!;
      if (!p.decoded) {
        const s = grid[n * 3 + 2]!;
        cx = (cx + grid[n * 3]!) * s;
        cy = (cy + grid[n * 3 + 1]!) * s;
        w = Math.exp(w) * s;
        h = Math.exp(h) * s;
      }
      cands.push(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, score, cls);
    }
    return finishDetections(cands, ctx, kept);
  };
}

export const yoloxDecoder: DecoderDef<YoloxParams> = {
  type: 'yolox',
  summary: 'YOLOX [1,N,5+C] with grid/stride decoding; score = objectness x class',
  parseParams: (raw) => parseDecoderParams('yolox', paramsSchema, raw),
  create,
};
