import { z } from 'zod';

/**
 * The model manifest: one documented schema (manifest.json or manifest.yaml in a model's folder).
 * A model has labels, one input contract, one decoder, and several variants (files) that implement it
 * for different runtimes, accelerators and precisions. Paths are relative to the manifest's folder.
 */

export const normaliseSchema = z
  .object({
    /** value = (pixel - mean) / std, per channel in the model's colour order. */
    mean: z.array(z.number()).length(3).default([0, 0, 0]),
    std: z.array(z.number().positive()).length(3).default([1, 1, 1]),
  })
  .strict();

export const inputSchema = z
  .object({
    name: z.string().min(1),
    /** Full tensor shape including batch, e.g. [1,3,240,320] (NCHW) or [1,192,192,3] (NHWC). */
    shape: z.array(z.number().int().positive()).length(4),
    layout: z.enum(['NCHW', 'NHWC']),
    dtype: z.enum(['float32', 'uint8', 'int8']).default('float32'),
    color: z.enum(['RGB', 'BGR']).default('RGB'),
    /** stretch: plain resize to the input size; letterbox: keep aspect ratio and pad. */
    resize: z.enum(['stretch', 'letterbox']).default('stretch'),
    /** Where the picture sits in a letterbox: centred, or at the top-left corner. */
    letterboxAlign: z.enum(['center', 'topleft']).default('center'),
    /** Pad value for the letterbox border, in pixel units 0..255. */
    padValue: z.number().int().min(0).max(255).default(0),
    /**
     * The filter that scales the picture to the input size, applied the same way by every source, the image reader
     * and optimize's frame reader: area (ffmpeg's area averaging, the agent's choice for downscaling) or bilinear
     * (what most training and reference pipelines use, e.g. cv2.resize's default). Match the model's own pipeline.
     */
    resizeFilter: z.enum(['area', 'bilinear']).default('area'),
    normalise: normaliseSchema.default({ mean: [0, 0, 0], std: [1, 1, 1] }),
  })
  .strict();

/**
 * A variant's input override: the same fields as `input`, all optional and WITHOUT defaults, so that a variant
 * overriding only `shape` keeps the model's normalisation, colour order and resize.
 */
export const inputOverrideSchema = z
  .object({
    name: z.string().min(1),
    shape: z.array(z.number().int().positive()).length(4),
    layout: z.enum(['NCHW', 'NHWC']),
    dtype: z.enum(['float32', 'uint8', 'int8']),
    color: z.enum(['RGB', 'BGR']),
    resize: z.enum(['stretch', 'letterbox']),
    letterboxAlign: z.enum(['center', 'topleft']),
    padValue: z.number().int().min(0).max(255),
    resizeFilter: z.enum(['area', 'bilinear']),
    normalise: z.object({ mean: z.array(z.number()).length(3), std: z.array(z.number().positive()).length(3) }).strict(),
  })
  .partial()
  .strict();

export const decoderSchema = z
  .object({
    /** Decoder family, e.g. yolov8, yolov5, yolox, ssd-postprocess, prior-boxes, anchor-regression, gfl. */
    type: z.string().min(1),
    /** Family-specific parameters (output names, strides, anchors...), validated by the decoder. */
    params: z.record(z.string(), z.unknown()).default({}),
    scoreThreshold: z.number().min(0).max(1).default(0.25),
    /** Per-label overrides of scoreThreshold. */
    classThresholds: z.record(z.string(), z.number().min(0).max(1)).default({}),
    nms: z
      .object({
        iou: z.number().min(0).max(1).default(0.45),
        classAgnostic: z.boolean().default(false),
        method: z.enum(['hard', 'weighted', 'none']).default('hard'),
        maxDetections: z.number().int().positive().default(100),
      })
      .strict()
      .default({ iou: 0.45, classAgnostic: false, method: 'hard', maxDetections: 100 }),
  })
  .strict();

/**
 * Agreement of a variant with its reference (the fp32 variant it was derived from) on frames of the user's scene:
 * reference detections matched one-to-one by the variant's (same label, IoU >= 0.5). `value` is the lower of recall
 * (reference detections found) and precision (variant detections that the reference also made), so both missed and
 * invented detections count against it. Written by `optimize`; `bench --frames` measures it on the device.
 */
export const agreementSchema = z
  .object({
    /** Name of the reference variant. */
    reference: z.string().min(1),
    value: z.number().min(0).max(1),
    recall: z.number().min(0).max(1),
    precision: z.number().min(0).max(1),
    /** Frames compared, and the reference's detection count on them. */
    frames: z.number().int().nonnegative(),
    detections: z.number().int().nonnegative().optional(),
    /** Mean (variant score - reference score) over matched detections. */
    meanScoreShift: z.number().optional(),
    dataset: z.string().optional(),
  })
  .strict();

export const accuracySchema = z
  .object({
    /** mAP@0.5 over all classes, 0..1 (a fraction, not a percentage). Optional when `agreement` is given. */
    mAP50: z.number().min(0).max(1).optional(),
    agreement: agreementSchema.optional(),
    perClass: z.record(z.string(), z.number().min(0).max(1)).optional(),
    /** Precision and recall of the anomaly label at the operating threshold. */
    precision: z.number().min(0).max(1).optional(),
    recall: z.number().min(0).max(1).optional(),
    threshold: z.number().min(0).max(1).optional(),
    /** What it was measured on (e.g. "demo seeds 1000-1009, 1500 frames"). */
    dataset: z.string().optional(),
  })
  .strict();

/** A stored input and expected outputs, to verify that an accelerator really computes the model. */
export const knownAnswerSchema = z
  .object({
    /** Raw input file (the input tensor's bytes in its dtype, little-endian), relative to the manifest. */
    input: z.string().min(1),
    /** Expected values of chosen output elements: output name -> [[flat index, value], ...]. */
    expect: z.record(z.string(), z.array(z.tuple([z.number().int().nonnegative(), z.number()])).min(1)),
    /** Allowed absolute difference (int8 and fp16 variants need more than fp32). */
    tolerance: z.number().positive().default(1e-3),
  })
  .strict();

export const variantSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, dash or underscore'),
    file: z.string().min(1),
    runtime: z.enum(['onnxruntime', 'tflite']),
    accelerator: z.enum(['cpu', 'cuda', 'tensorrt', 'edgetpu']),
    precision: z.enum(['fp32', 'fp16', 'int8', 'uint8']),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, '64 lowercase hex digits'),
    /** Overrides the model-level input (e.g. a variant with another input size or a quantised input). */
    input: inputOverrideSchema.optional(),
    /** Multiply-accumulate count x2 of one inference, counted from the graph (for the energy estimate). */
    flops: z.number().nonnegative().optional(),
    /** Peak memory needed to run, MB (to skip variants that do not fit). */
    memoryMB: z.number().positive().optional(),
    accuracy: accuracySchema.optional(),
    /** Latency estimates, ms, per device class (e.g. "x86_64-cpu", "rpi4-cpu", "rpi5-cpu", "coral-usb3", "jetson-orin-gpu"). */
    latencyMs: z.record(z.string(), z.number().positive()).default({}),
    knownAnswer: knownAnswerSchema.optional(),
    /**
     * The variant this one was derived from (e.g. the fp32 variant `optimize` quantised). Its agreement is measured
     * against it, and selection never picks this variant when it is slower than the reference. Default for a non-fp32
     * variant: the manifest's first fp32 variant of the same runtime (else the first fp32 variant).
     */
    reference: z.string().optional(),
    /** Free text: how it was made (training script, optimize command...). */
    provenance: z.string().optional(),
  })
  .strict();

export const manifestSchema = z
  .object({
    schema: z.literal(1),
    name: z.string().regex(/^[A-Za-z0-9._-]+$/),
    description: z.string().optional(),
    labels: z.array(z.string().min(1)).min(1),
    /**
     * A text file with one label per line (relative to the manifest; blank lines and lines starting with # skipped),
     * instead of `labels`: the loader reads it into `labels`.
     */
    labelsFile: z.string().min(1).optional(),
    input: inputSchema,
    decoder: decoderSchema,
    variants: z.array(variantSchema).min(1),
    license: z.string().optional(),
    source: z.string().optional(),
  })
  .strict()
  .superRefine((m, ctx) => {
    const seen = new Set<string>();
    m.variants.forEach((v, i) => {
      if (seen.has(v.name)) ctx.addIssue({ code: 'custom', path: ['variants', i, 'name'], message: `duplicate variant name "${v.name}"` });
      seen.add(v.name);
    });
    m.variants.forEach((v, i) => {
      if (v.reference !== undefined && (v.reference === v.name || !m.variants.some((x) => x.name === v.reference))) {
        ctx.addIssue({ code: 'custom', path: ['variants', i, 'reference'], message: `reference "${v.reference}" is not another variant of this manifest` });
      }
      if (v.accuracy && v.accuracy.mAP50 === undefined && !v.accuracy.agreement) {
        ctx.addIssue({ code: 'custom', path: ['variants', i, 'accuracy'], message: 'accuracy needs mAP50 (0..1) or agreement' });
      }
    });
  });

/** The variant whose answers a variant is compared with: its `reference`, else the first fp32 variant (same runtime first). */
export function referenceOf(variants: readonly VariantSpec[], v: VariantSpec): VariantSpec | undefined {
  if (v.reference) return variants.find((x) => x.name === v.reference);
  if (v.precision === 'fp32') return undefined;
  return variants.find((x) => x.precision === 'fp32' && x.runtime === v.runtime) ?? variants.find((x) => x.precision === 'fp32');
}

export type AgreementSpec = z.infer<typeof agreementSchema>;
export type ManifestInput = z.infer<typeof inputSchema>;
export type DecoderSpec = z.infer<typeof decoderSchema>;
export type VariantSpec = z.infer<typeof variantSchema>;
export type Manifest = z.infer<typeof manifestSchema>;
