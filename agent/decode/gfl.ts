import { z } from 'zod';
import type { OutputTensor } from '../types.js';
import { finishDetections, scratch } from './finish.js';
import { parseDecoderParams, pickOutput, shapeMismatch } from './params.js';
import { resolveThresholds } from './thresholds.js';
import type { DecodeContext, DecodeFn, DecoderDef } from './types.js';

/**
 * Generalized Focal Loss heads (NanoDet): per grid cell C class scores (no objectness) and, for each of the
 * four sides (left, top, right, bottom), a distribution over `bins` distances; the distance is the expectation
 * sum(j * softmax(p)_j) times the stride, measured from the cell centre x*s + gridOffset*s + gridOffsetPx.
 * Either one output per stride (`heads`, NanoDet) or one concatenated [1,N,C+4*bins] output (`output` +
 * `strides`, NanoDet-Plus exports).
 */
const paramsSchema = z
  .object({
    heads: z
      .array(z.object({ scores: z.string().min(1), distances: z.string().min(1), stride: z.number().int().positive() }).strict())
      .min(1)
      .optional(),
    output: z.string().min(1).optional(),
    strides: z.array(z.number().int().positive()).min(1).optional(),
    /** Bins per side (NanoDet reg_max + 1 = 8). */
    bins: z.number().int().min(2).default(8),
    /** Cell centre = x*stride + gridOffset*stride + gridOffsetPx (NanoDet: 0.5 and -0.5, i.e. (s-1)/2; NanoDet-Plus: 0 and 0). */
    gridOffset: z.number().default(0.5),
    gridOffsetPx: z.number().default(0),
    /** none: scores are probabilities already (NanoDet exports apply the sigmoid); sigmoid: raw logits. */
    scoreActivation: z.enum(['none', 'sigmoid']).default('none'),
  })
  .strict()
  .refine((p) => (p.heads ? !p.output && !p.strides : Boolean(p.output && p.strides)), {
    message: 'give either heads: [{scores, distances, stride}] or output + strides',
    path: ['heads'],
  });

export type GflParams = z.infer<typeof paramsSchema>;

interface Level {
  stride: number;
  cols: number;
  rows: number;
  scores: Float32Array;
  sOff: number;
  sStride: number;
  dist: Float32Array;
  dOff: number;
  dStride: number;
}

function levels(p: GflParams, outputs: Record<string, OutputTensor>, C: number, W: number, H: number): Level[] {
  const B = 4 * p.bins;
  const out: Level[] = [];
  if (p.heads) {
    for (const h of p.heads) {
      const cols = Math.ceil(W / h.stride);
      const rows = Math.ceil(H / h.stride);
      const s = pickOutput(outputs, h.scores, 'heads[].scores', 'gfl');
      const d = pickOutput(outputs, h.distances, 'heads[].distances', 'gfl');
      if (s.data.length !== cols * rows * C) shapeMismatch('gfl', h.scores, s.dims, `[1, ${cols * rows}, ${C}] (${cols}x${rows} cells at stride ${h.stride}, ${C} labels)`);
      if (d.data.length !== cols * rows * B) shapeMismatch('gfl', h.distances, d.dims, `[1, ${cols * rows}, ${B}] (4 sides x ${p.bins} bins)`);
      out.push({ stride: h.stride, cols, rows, scores: s.data, sOff: 0, sStride: C, dist: d.data, dOff: 0, dStride: B });
    }
    return out;
  }
  const t = pickOutput(outputs, p.output, 'output', 'gfl');
  const V = C + B;
  let off = 0;
  for (const stride of p.strides!) {
    const cols = Math.ceil(W / stride);
    const rows = Math.ceil(H / stride);
    out.push({ stride, cols, rows, scores: t.data, sOff: off * V, sStride: V, dist: t.data, dOff: off * V + C, dStride: V });
    off += cols * rows;
  }
  if (t.data.length !== off * V) shapeMismatch('gfl', p.output!, t.dims, `[1, ${off}, ${V}] (${C} labels + 4 x ${p.bins} bins)`);
  return out;
}

function create(p: GflParams): DecodeFn {
  const { cands, kept } = scratch();
  const bins = p.bins;
  const expect = (d: Float32Array, o: number): number => {
    let m = -Infinity;
    for (let j = 0; j < bins; j++) m = Math.max(m, d[o + j]!);
    let sum = 0;
    let acc = 0;
    for (let j = 0; j < bins; j++) {
      const e = Math.exp(d[o + j]! - m);
      sum += e;
      acc += j * e;
    }
    return acc / sum;
  };
  return (outputs: Record<string, OutputTensor>, ctx: DecodeContext) => {
    const C = ctx.labels.length;
    const W = ctx.inputWidth;
    const H = ctx.inputHeight;
    const thr = resolveThresholds(ctx.spec, ctx.labels);
    const sig = p.scoreActivation === 'sigmoid';
    cands.reset();
    for (const L of levels(p, outputs, C, W, H)) {
      const off = p.gridOffset * L.stride + p.gridOffsetPx;
      for (let y = 0; y < L.rows; y++) {
        for (let x = 0; x < L.cols; x++) {
          const cell = y * L.cols + x;
          const so = L.sOff + cell * L.sStride;
          let best = -Infinity;
          let cls = 0;
          for (let c = 0; c < C; c++) {
            const v = L.scores[so + c]!;
            if (v > best) {
              best = v;
              cls = c;
            }
          }
          const score = sig ? 1 / (1 + Math.exp(-best)) : best;
          if (score < thr.min || score < thr.perClass[cls]!) continue;
          const d = L.dOff + cell * L.dStride;
          const cx = x * L.stride + off;
          const cy = y * L.stride + off;
          const l = expect(L.dist, d) * L.stride;
          const t = expect(L.dist, d + bins) * L.stride;
          const r = expect(L.dist, d + 2 * bins) * L.stride;
          const b = expect(L.dist, d + 3 * bins) * L.stride;
          cands.push(Math.max(0, cx - l), Math.max(0, cy - t), Math.min(W, cx + r), Math.min(H, cy + b), score, cls);
        }
      }
    }
    return finishDetections(cands, ctx, kept);
  };
}

export const gflDecoder: DecoderDef<GflParams> = {
  type: 'gfl',
  summary: 'GFL heads (NanoDet): class scores + 4 x bins distance distributions per grid cell, anchor-free',
  parseParams: (raw) => parseDecoderParams('gfl', paramsSchema, raw),
  create,
};
