import { z } from 'zod';
import type { OutputTensor } from '../types.js';
import { finishDetections, scratch } from './finish.js';
import { parseDecoderParams, pickOutput, shapeMismatch } from './params.js';
import { resolveThresholds } from './thresholds.js';
import type { DecodeContext, DecodeFn, DecoderDef } from './types.js';
import type { Thresholds } from './thresholds.js';

/**
 * YOLOv5 (also YOLOv7 exports): score = objectness x class score.
 * - `decoded` (the default Ultralytics export): one output [1, N, 5+C] = cx, cy, w, h, obj, C class scores.
 * - `raw`: the heads before the Detect layer, one output per stride, [1, A, H, W, 5+C] (NAHWC) or
 *   [1, A*(5+C), H, W] (NCHW), raw logits; xy = (2*sig(t) - 0.5 + cell) * stride, wh = (2*sig(t))^2 * anchor.
 */
const headSchema = z
  .object({
    output: z.string().min(1),
    stride: z.number().int().positive(),
    /** Anchor sizes in input pixels for this stride, e.g. [[10,13],[16,30],[33,23]]. */
    anchors: z.array(z.tuple([z.number().positive(), z.number().positive()])).min(1),
  })
  .strict();

const paramsSchema = z
  .object({
    mode: z.enum(['decoded', 'raw']).default('decoded'),
    /** decoded mode: the output name (optional when the model has one output). */
    output: z.string().min(1).optional(),
    /** decoded mode: coordinates 0..1 of the input (TFLite exports) instead of pixels. */
    normalized: z.boolean().default(false),
    /** raw mode: one entry per output. */
    heads: z.array(headSchema).min(1).optional(),
    layout: z.enum(['NAHWC', 'NCHW']).default('NAHWC'),
    /** raw mode: apply the sigmoid (false if the export already did). */
    sigmoid: z.boolean().default(true),
  })
  .strict()
  .refine((p) => p.mode === 'decoded' || p.heads, { message: 'raw mode needs heads: [{output, stride, anchors}]', path: ['heads'] });

export type Yolov5Params = z.infer<typeof paramsSchema>;

const sigm = (v: number): number => 1 / (1 + Math.exp(-v));
const identity = (v: number): number => v;

/**
 * Scores one prediction whose value v sits at d[base + v*step] (step 1 for rows, the cell count for planes).
 * Returns the class index when objectness x best class passes the thresholds, else -1; the score goes to out[0].
 */
function bestClass(d: Float32Array, base: number, step: number, C: number, act: (v: number) => number, thr: Thresholds, out: Float64Array): number {
  const obj = act(d[base + 4 * step]!);
  if (obj < thr.min) return -1;
  let best = -Infinity;
  let cls = 0;
  for (let c = 0; c < C; c++) {
    const v = d[base + (5 + c) * step]!;
    if (v > best) {
      best = v;
      cls = c;
    }
  }
  const score = obj * act(best);
  if (score < thr.min || score < thr.perClass[cls]!) return -1;
  out[0] = score;
  return cls;
}

function create(p: Yolov5Params): DecodeFn {
  const { cands, kept } = scratch();
  const score = new Float64Array(1);
  return (outputs: Record<string, OutputTensor>, ctx: DecodeContext) => {
    const C = ctx.labels.length;
    const V = 5 + C;
    const thr = resolveThresholds(ctx.spec, ctx.labels);
    cands.reset();
    if (p.mode === 'decoded') {
      const t = pickOutput(outputs, p.output, 'output', 'yolov5');
      if (t.dims.length !== 3 || t.dims[2] !== V) shapeMismatch('yolov5', p.output ?? 'output', t.dims, `[1, N, ${V}] (4 box values, objectness, ${C} labels)`);
      const N = t.dims[1]!;
      const d = t.data;
      const sx = p.normalized ? ctx.inputWidth : 1;
      const sy = p.normalized ? ctx.inputHeight : 1;
      for (let n = 0; n < N; n++) {
        const o = n * V;
        const cls = bestClass(d, o, 1, C, identity, thr, score);
        if (cls < 0) continue;
        const hw = d[o + 2]! / 2;
        const hh = d[o + 3]! / 2;
        cands.push((d[o]! - hw) * sx, (d[o + 1]! - hh) * sy, (d[o]! + hw) * sx, (d[o + 1]! + hh) * sy, score[0]!, cls);
      }
      return finishDetections(cands, ctx, kept);
    }
    const act = p.sigmoid ? sigm : identity;
    for (const h of p.heads!) {
      const t = pickOutput(outputs, h.output, 'heads[].output', 'yolov5');
      const A = h.anchors.length;
      const cols = Math.ceil(ctx.inputWidth / h.stride);
      const rows = Math.ceil(ctx.inputHeight / h.stride);
      if (t.data.length !== A * rows * cols * V) {
        shapeMismatch('yolov5', h.output, t.dims, p.layout === 'NAHWC' ? `[1, ${A}, ${rows}, ${cols}, ${V}]` : `[1, ${A * V}, ${rows}, ${cols}]`);
      }
      const d = t.data;
      const cells = rows * cols;
      for (let a = 0; a < A; a++) {
        const [aw, ah] = h.anchors[a]!;
        for (let y = 0; y < rows; y++) {
          for (let x = 0; x < cols; x++) {
            const cell = y * cols + x;
            // Value v of this anchor and cell is at d[base + v * step] in either layout.
            const base = p.layout === 'NAHWC' ? (a * cells + cell) * V : a * V * cells + cell;
            const step = p.layout === 'NAHWC' ? 1 : cells;
            const cls = bestClass(d, base, step, C, act, thr, score);
            if (cls < 0) continue;
            const cx = (2 * act(d[base]!) - 0.5 + x) * h.stride;
            const cy = (2 * act(d[base + step]!) - 0.5 + y) * h.stride;
            const w = (2 * act(d[base + 2 * step]!)) ** 2 * aw;
            const bh = (2 * act(d[base + 3 * step]!)) ** 2 * ah;
            cands.push(cx - w / 2, cy - bh / 2, cx + w / 2, cy + bh / 2, score[0]!, cls);
          }
        }
      }
    }
    return finishDetections(cands, ctx, kept);
  };
}

export const yolov5Decoder: DecoderDef<Yolov5Params> = {
  type: 'yolov5',
  summary: 'YOLOv5/v7: decoded [1,N,5+C] or raw anchor heads per stride; score = objectness x class',
  parseParams: (raw) => parseDecoderParams('yolov5', paramsSchema, raw),
  create,
};
