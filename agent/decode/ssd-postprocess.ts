import { z } from 'zod';
import type { OutputTensor } from '../types.js';
import { finishDetections, scratch } from './finish.js';
import { parseDecoderParams, pickOutput, shapeMismatch } from './params.js';
import { resolveThresholds } from './thresholds.js';
import type { DecodeContext, DecodeFn, DecoderDef } from './types.js';

/**
 * Outputs of TensorFlow's `TFLite_Detection_PostProcess` op (SSD MobileNet, EfficientDet-Lite, AutoML):
 * boxes [1,M,4] as [ymin,xmin,ymax,xmax] normalised to the input, classes [1,M], scores [1,M], count [1].
 * NMS already happened inside the op; set `nms.method: none` in the manifest unless a second pass is wanted.
 * Output names differ between converters, so each is configurable (TFLite names them e.g.
 * "TFLite_Detection_PostProcess", ":1", ":2", ":3").
 */
const paramsSchema = z
  .object({
    boxes: z.string().min(1),
    classes: z.string().min(1),
    scores: z.string().min(1),
    count: z.string().min(1),
    /** Added to the class value to get the label index (models whose label 0 is "background" need -1 or a label list with it). */
    labelOffset: z.number().int().default(0),
    /** yxyx: [ymin,xmin,ymax,xmax] (the op's order); xyxy for converters that reorder. */
    boxOrder: z.enum(['yxyx', 'xyxy']).default('yxyx'),
  })
  .strict();

export type SsdPostprocessParams = z.infer<typeof paramsSchema>;

function create(p: SsdPostprocessParams): DecodeFn {
  const { cands, kept } = scratch();
  return (outputs: Record<string, OutputTensor>, ctx: DecodeContext) => {
    const b = pickOutput(outputs, p.boxes, 'boxes', 'ssd-postprocess');
    const c = pickOutput(outputs, p.classes, 'classes', 'ssd-postprocess');
    const s = pickOutput(outputs, p.scores, 'scores', 'ssd-postprocess');
    const n = pickOutput(outputs, p.count, 'count', 'ssd-postprocess');
    const M = s.data.length;
    if (b.data.length !== M * 4) shapeMismatch('ssd-postprocess', p.boxes, b.dims, `[1, ${M}, 4] (4 values per score)`);
    if (c.data.length !== M) shapeMismatch('ssd-postprocess', p.classes, c.dims, `[1, ${M}] (one class per score)`);
    if (n.data.length < 1) shapeMismatch('ssd-postprocess', p.count, n.dims, '[1]');
    const count = Math.min(M, Math.max(0, Math.round(n.data[0]!)));
    const thr = resolveThresholds(ctx.spec, ctx.labels);
    const W = ctx.inputWidth;
    const H = ctx.inputHeight;
    const bd = b.data;
    cands.reset();
    for (let i = 0; i < count; i++) {
      const score = s.data[i]!;
      if (score < thr.min) continue;
      const cls = Math.round(c.data[i]!) + p.labelOffset;
      if (cls < 0 || cls >= ctx.labels.length) continue; // a class the label list does not cover (e.g. background)
      if (score < thr.perClass[cls]!) continue;
      const o = i * 4;
      if (p.boxOrder === 'yxyx') cands.push(bd[o + 1]! * W, bd[o]! * H, bd[o + 3]! * W, bd[o + 2]! * H, score, cls);
      else cands.push(bd[o]! * W, bd[o + 1]! * H, bd[o + 2]! * W, bd[o + 3]! * H, score, cls);
    }
    return finishDetections(cands, ctx, kept);
  };
}

export const ssdPostprocessDecoder: DecoderDef<SsdPostprocessParams> = {
  type: 'ssd-postprocess',
  summary: 'TFLite_Detection_PostProcess outputs (boxes yxyx normalised, classes, scores, count); NMS done in the model',
  parseParams: (raw) => parseDecoderParams('ssd-postprocess', paramsSchema, raw),
  create,
};
