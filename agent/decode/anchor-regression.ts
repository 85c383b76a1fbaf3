import { z } from 'zod';
import type { OutputTensor } from '../types.js';
import { ssdAnchors } from './anchors.js';
import { finishDetections, scratch } from './finish.js';
import { parseDecoderParams, pickOutput, shapeMismatch } from './params.js';
import { resolveThresholds } from './thresholds.js';
import type { DecodeContext, DecodeFn, DecoderDef } from './types.js';

/**
 * Box regression against generated SSD anchors, as MediaPipe's TensorsToDetectionsCalculator decodes
 * BlazeFace and the palm detector: regressors [1,N,V] (box + keypoints) and class logits [1,N,C].
 * cx = r[0] / scaleX * anchor.w + anchor.cx (x before y when reverseOutputOrder), size r[2] / scaleW * anchor.w
 * (or exp() of it), keypoints like the centre; score = sigmoid(clip(logit)).
 */
const anchorsSchema = z
  .object({
    numLayers: z.number().int().positive(),
    strides: z.array(z.number().int().positive()).min(1),
    /** Anchor grid size; defaults to the model input size. */
    inputWidth: z.number().int().positive().optional(),
    inputHeight: z.number().int().positive().optional(),
    /** Only used when fixedAnchorSize is false. MediaPipe's face graph uses 0.1484375 and 0.75. */
    minScale: z.number().positive().default(0.1484375),
    maxScale: z.number().positive().default(0.75),
    anchorOffsetX: z.number().default(0.5),
    anchorOffsetY: z.number().default(0.5),
    aspectRatios: z.array(z.number().positive()).min(1).default([1]),
    interpolatedScaleAspectRatio: z.number().min(0).default(1),
    fixedAnchorSize: z.boolean().default(true),
    reduceBoxesInLowestLayer: z.boolean().default(false),
  })
  .strict()
  .refine((a) => a.strides.length === a.numLayers, { message: 'strides must have numLayers entries', path: ['strides'] });

const paramsSchema = z
  .object({
    regressors: z.string().min(1),
    scores: z.string().min(1),
    anchors: anchorsSchema,
    /** Divisors of the raw box values; default: input width/height (BlazeFace 128, full range and palm 192). */
    scale: z
      .object({ x: z.number().positive(), y: z.number().positive(), w: z.number().positive(), h: z.number().positive() })
      .strict()
      .optional(),
    /** Offset of the box values in each regressor row. */
    boxOffset: z.number().int().nonnegative().default(0),
    numKeypoints: z.number().int().nonnegative().default(0),
    keypointOffset: z.number().int().nonnegative().default(4),
    valuesPerKeypoint: z.number().int().min(2).default(2),
    /** true: x before y (cx, cy, w, h); false: y first (cy, cx, h, w), the TF Object Detection order. */
    reverseOutputOrder: z.boolean().default(true),
    applyExponentialOnBoxSize: z.boolean().default(false),
    /** sigmoid: raw logits; none: already probabilities. */
    scoreActivation: z.enum(['sigmoid', 'none']).default('sigmoid'),
    /** Logits are clipped to +-this before the sigmoid (MediaPipe: 100); null: no clipping. */
    scoreClip: z.number().positive().nullable().default(100),
  })
  .strict();

export type AnchorRegressionParams = z.infer<typeof paramsSchema>;

function create(p: AnchorRegressionParams): DecodeFn {
  const { cands, kept } = scratch();
  let anchors: Float64Array | undefined;
  let anchorsFor = '';
  return (outputs: Record<string, OutputTensor>, ctx: DecodeContext) => {
    const r = pickOutput(outputs, p.regressors, 'regressors', 'anchor-regression');
    const s = pickOutput(outputs, p.scores, 'scores', 'anchor-regression');
    const aw = p.anchors.inputWidth ?? ctx.inputWidth;
    const ah = p.anchors.inputHeight ?? ctx.inputHeight;
    if (!anchors || anchorsFor !== `${aw}x${ah}`) {
      anchors = ssdAnchors({ ...p.anchors, inputWidth: aw, inputHeight: ah });
      anchorsFor = `${aw}x${ah}`;
    }
    const N = anchors.length / 4;
    const C = ctx.labels.length;
    if (s.dims[1] !== N || s.data.length !== N * C) shapeMismatch('anchor-regression', p.scores, s.dims, `[1, ${N}, ${C}] (${N} anchors from decoder.params.anchors, ${C} labels)`);
    const V = r.data.length / N;
    const need = Math.max(p.boxOffset + 4, p.numKeypoints ? p.keypointOffset + p.numKeypoints * p.valuesPerKeypoint : 0);
    if (r.dims[1] !== N || !Number.isInteger(V) || V < need) shapeMismatch('anchor-regression', p.regressors, r.dims, `[1, ${N}, >=${need}]`);
    const thr = resolveThresholds(ctx.spec, ctx.labels);
    const sc = p.scale ?? { x: ctx.inputWidth, y: ctx.inputHeight, w: ctx.inputWidth, h: ctx.inputHeight };
    const W = ctx.inputWidth;
    const H = ctx.inputHeight;
    const clip = p.scoreClip;
    const rd = r.data;
    const sd = s.data;
    const xi = p.reverseOutputOrder ? 0 : 1;
    const yi = 1 - xi;
    // The sigmoid is monotonic: compare the raw logit with the threshold's logit first, so exp() runs only
    // for the few anchors that can pass.
    const sig = p.scoreActivation === 'sigmoid';
    const minLogit = sig ? (thr.min <= 0 ? -Infinity : thr.min >= 1 ? Infinity : Math.log(thr.min / (1 - thr.min))) : -Infinity;
    cands.reset(p.numKeypoints);
    for (let n = 0; n < N; n++) {
      let best = -Infinity;
      let cls = 0;
      for (let c = 0; c < C; c++) {
        const v = sd[n * C + c]!;
        if (v > best) {
          best = v;
          cls = c;
        }
      }
      if (best < minLogit - 1e-9) continue;
      let score = best;
      if (sig) {
        if (clip !== null) score = score < -clip ? -clip : score > clip ? clip : score;
        score = 1 / (1 + Math.exp(-score));
      }
      if (score < thr.min || score < thr.perClass[cls]!) continue;
      const a = n * 4;
      const acx = anchors[a]!;
      const acy = anchors[a + 1]!;
      const aW = anchors[a + 2]!;
      const aH = anchors[a + 3]!;
      const o = n * V + p.boxOffset;
      const cx = (rd[o + xi]! / sc.x) * aW + acx;
      const cy = (rd[o + yi]! / sc.y) * aH + acy;
      let w = rd[o + 2 + xi]! / sc.w;
      let h = rd[o + 2 + yi]! / sc.h;
      if (p.applyExponentialOnBoxSize) {
        w = Math.exp(w);
        h = Math.exp(h);
      }
      w *= aW;
      h *= aH;
      const i = cands.push((cx - w / 2) * W, (cy - h / 2) * H, (cx + w / 2) * W, (cy + h / 2) * H, score, cls);
      for (let k = 0; k < p.numKeypoints; k++) {
        const ko = n * V + p.keypointOffset + k * p.valuesPerKeypoint;
        const kx = (rd[ko + xi]! / sc.x) * aW + acx;
        const ky = (rd[ko + yi]! / sc.y) * aH + acy;
        cands.setKeypoint(i, k, kx * W, ky * H);
      }
    }
    return finishDetections(cands, ctx, kept);
  };
}

export const anchorRegressionDecoder: DecoderDef<AnchorRegressionParams> = {
  type: 'anchor-regression',
  summary: 'regressors + logits against generated SSD anchors (MediaPipe BlazeFace/palm), keypoints, usually weighted NMS',
  parseParams: (raw) => parseDecoderParams('anchor-regression', paramsSchema, raw),
  create,
};
