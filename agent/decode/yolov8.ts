import { z } from 'zod';
import type { OutputTensor } from '../types.js';
import { scratch, finishDetections } from './finish.js';
import { parseDecoderParams, pickOutput, shapeMismatch } from './params.js';
import { resolveThresholds } from './thresholds.js';
import type { DecodeContext, DecodeFn, DecoderDef } from './types.js';

/**
 * YOLOv8 / YOLO11 head as exported by Ultralytics: one output [1, 4+C, N] (channels first: cx, cy, w, h in
 * input pixels, then C class scores already sigmoid'ed; no objectness), or [1, N, 4+C] with `transposed`.
 * Each box takes its best class.
 */
const paramsSchema = z
  .object({
    /** Output name; optional when the model has a single output. */
    output: z.string().min(1).optional(),
    /** true: [1, N, 4+C] (rows per box); false: [1, 4+C, N] (the Ultralytics default). */
    transposed: z.boolean().default(false),
    /** xywh: centre and size; xyxy: corners. */
    boxFormat: z.enum(['xywh', 'xyxy']).default('xywh'),
    /** true when coordinates are 0..1 of the input (Ultralytics TFLite exports) instead of input pixels. */
    normalized: z.boolean().default(false),
  })
  .strict();

export type Yolov8Params = z.infer<typeof paramsSchema>;

function create(p: Yolov8Params): DecodeFn {
  const { cands, kept } = scratch();
  let best = new Float32Array(0);
  let bestCls = new Int32Array(0);
  return (outputs: Record<string, OutputTensor>, ctx: DecodeContext) => {
    const t = pickOutput(outputs, p.output, 'output', 'yolov8');
    const C = ctx.labels.length;
    const d = t.dims;
    if (d.length !== 3 || (p.transposed ? d[2] : d[1]) !== 4 + C) {
      shapeMismatch('yolov8', p.output ?? 'output', d, p.transposed ? `[1, N, ${4 + C}] (4 box values + ${C} labels)` : `[1, ${4 + C}, N] (4 box values + ${C} labels)`);
    }
    const N = p.transposed ? d[1]! : d[2]!;
    const data = t.data;
    const thr = resolveThresholds(ctx.spec, ctx.labels);
    if (best.length < N) {
      best = new Float32Array(N);
      bestCls = new Int32Array(N);
    }
    // Best class per box. Channels-first is walked class by class so memory is read sequentially.
    if (!p.transposed) {
      best.set(data.subarray(4 * N, 5 * N));
      bestCls.fill(0, 0, N);
      for (let c = 1; c < C; c++) {
        const row = (4 + c) * N;
        for (let n = 0; n < N; n++) {
          const s = data[row + n]!;
          if (s > best[n]!) {
            best[n] = s;
            bestCls[n] = c;
          }
        }
      }
    } else {
      const stride = 4 + C;
      for (let n = 0; n < N; n++) {
        const base = n * stride + 4;
        let bs = data[base]!;
        let bc = 0;
        for (let c = 1; c < C; c++) {
          const s = data[base + c]!;
          if (s > bs) {
            bs = s;
            bc = c;
          }
        }
        best[n] = bs;
        bestCls[n] = bc;
      }
    }
    const sx = p.normalized ? ctx.inputWidth : 1;
    const sy = p.normalized ? ctx.inputHeight : 1;
    cands.reset();
    for (let n = 0; n < N; n++) {
      const s = best[n]!;
      if (s < thr.min || s < thr.perClass[bestCls[n]!]!) continue;
      let a: number, b: number, c: number, e: number;
      if (p.transposed) {
        const o = n * (4 + C);
        a = data[o]!;
        b = data[o + 1]!;
        c = data[o + 2]!;
        e = data[o + 3]!;
      } else {
        a = data[n]!;
        b = data[N + n]!;
        c = data[2 * N + n]!;
        e = data[3 * N + n]!;
      }
      if (p.boxFormat === 'xywh') cands.push((a - c / 2) * sx, (b - e / 2) * sy, (a + c / 2) * sx, (b + e / 2) * sy, s, bestCls[n]!);
      else cands.push(a * sx, b * sy, c * sx, e * sy, s, bestCls[n]!);
    }
    return finishDetections(cands, ctx, kept);
  };
}

export const yolov8Decoder: DecoderDef<Yolov8Params> = {
  type: 'yolov8',
  summary: 'YOLOv8/YOLO11 head [1,4+C,N] (or transposed), no objectness',
  parseParams: (raw) => parseDecoderParams('yolov8', paramsSchema, raw),
  create,
};
