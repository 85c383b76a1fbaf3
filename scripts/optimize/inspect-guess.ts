// The inspection record and the guesses `edge-agent inspect` makes from tensor shapes (ONNX and TFLite alike).

/** What `edge-agent inspect` finds in a model file, and a manifest drafted from it for the user to confirm. */
export interface ModelInspection {
  file: string;
  /** 'onnx' or 'tflite' (absent in reports written before TFLite was read: ONNX). */
  format?: 'onnx' | 'tflite';
  sha256: string;
  inputs: Array<{ name: string; shape: number[]; dtype: string; layout: 'NCHW' | 'NHWC' | 'unknown'; quant?: TensorQuant }>;
  outputs: Array<{ name: string; shape: number[]; dtype: string; layout?: 'NCHW' | 'NHWC' | 'unknown'; quant?: TensorQuant }>;
  /** 'none', or the quantisation found (QDQ nodes, QLinear/Integer operators, int8 weights). */
  quantisation: string;
  /** ONNX opset, or the TFLite schema version. */
  opset: number;
  /** TFLite only: compiled by edgetpu_compiler (an edgetpu-custom-op operator), and the custom ops found. */
  edgeTpu?: { compiled: boolean; customOps: string[] };
  decoder: { type: string; why: string; labels: number | null; params?: Record<string, unknown> };
  manifest: Record<string, unknown>;
  notes: string[];
}

/** Affine quantisation of one tensor: real = scale * (q - zeroPoint); per-axis when `axis` is set. */
export interface TensorQuant {
  scale: number[];
  zeroPoint: number[];
  axis?: number;
}

/** NCHW when dimension 1 looks like colour channels, NHWC when the last one does; else the fallback (TFLite: NHWC, its builtin ops' layout). */
export function guessLayout(shape: number[], fallback: 'NHWC' | 'unknown' = 'unknown'): 'NCHW' | 'NHWC' | 'unknown' {
  if (shape.length !== 4) return 'unknown';
  const small = (d: number | undefined): boolean => d === 1 || d === 3 || d === 4;
  if (small(shape[1]) && !small(shape[3])) return 'NCHW';
  if (small(shape[3]) && !small(shape[1])) return 'NHWC';
  return fallback;
}


/**
 * MediaPipe-style SSD anchors (BlazeFace, palm): regressors [1,N,K] (4 box values + keypoint pairs) and logits
 * [1,N,1]. N tells the anchor layout: the short-range face and palm models use strides 8,16,16,16 with two anchors
 * per cell (aspect 1 + the interpolated one), the full-range face model one anchor per cell at stride 4.
 */
function guessAnchorRegression(outputs: Array<{ name: string; shape: number[] }>, input: { h: number; w: number }): ModelInspection['decoder'] | undefined {
  const [a, b] = outputs as [{ name: string; shape: number[] }, { name: string; shape: number[] }];
  const reg = a.shape.at(-1)! > 4 && b.shape.at(-1) === 1 ? a : b.shape.at(-1)! > 4 && a.shape.at(-1) === 1 ? b : undefined;
  const logits = reg === a ? b : a;
  if (!reg || reg.shape.length !== 3 || logits.shape.length !== 3 || reg.shape[1] !== logits.shape[1]) return undefined;
  const n = reg.shape[1]!;
  const k = reg.shape[2]!;
  const cells = (s: number): number => Math.ceil(input.h / s) * Math.ceil(input.w / s);
  const layouts = [
    { strides: [8, 16, 16, 16], interpolatedScaleAspectRatio: 1, count: cells(8) * 2 + cells(16) * 6 },
    ...[4, 8, 16, 32].map((st) => ({ strides: [st], interpolatedScaleAspectRatio: 0, count: cells(st) })),
  ];
  const hit = layouts.find((l) => l.count === n);
  const keypoints = (k - 4) % 2 === 0 ? (k - 4) / 2 : 0;
  const params: Record<string, unknown> = {
    regressors: reg.name,
    scores: logits.name,
    anchors: { numLayers: (hit ?? layouts[0]!).strides.length, strides: (hit ?? layouts[0]!).strides, aspectRatios: [1], interpolatedScaleAspectRatio: (hit ?? layouts[0]!).interpolatedScaleAspectRatio, fixedAnchorSize: true, anchorOffsetX: 0.5, anchorOffsetY: 0.5 },
    numKeypoints: keypoints,
    keypointOffset: 4,
    reverseOutputOrder: true,
    scoreActivation: 'sigmoid',
    scoreClip: 100,
  };
  const anchorsWhy = hit ? `${n} anchors = strides ${hit.strides.join('/')} with ${hit.interpolatedScaleAspectRatio ? 2 : 1} anchor(s) per layer and cell` : `${n} anchors match no usual layout: set decoder.params.anchors from the model's documentation`;
  return { type: 'anchor-regression', why: `two outputs with ${n} rows: regressors [.., ${k}] (4 box values + ${keypoints} keypoints) and logits [.., 1] (MediaPipe BlazeFace/palm style); ${anchorsWhy}`, labels: 1, params };
}

/** Guesses the decoder family from the output shapes (docs/models.md lists the families). */
export function guessDecoder(outputs: Array<{ name: string; shape: number[] }>, input: { h: number; w: number }): ModelInspection['decoder'] {
  const cells = (strides: number[]): number => strides.reduce((n, s) => n + Math.ceil(input.h / s) * Math.ceil(input.w / s), 0);
  if (outputs.length === 1 && outputs[0]!.shape.length === 3) {
    const [, a, b] = outputs[0]!.shape as [number, number, number];
    if (a > 4 && b > a) return { type: 'yolov8', why: `one output [1, ${a}, ${b}]: 4 box values + ${a - 4} class scores per column (Ultralytics YOLOv8/YOLO11)`, labels: a - 4 };
    if (b > 5 && a === cells([8, 16, 32])) return { type: 'yolox', why: `one output [1, ${a}, ${b}] with ${a} rows = the cells of strides 8/16/32: 4 box + objectness + ${b - 5} classes (YOLOX)`, labels: b - 5 };
    if (b > 5 && a % 3 === 0 && a / 3 === cells([8, 16, 32])) return { type: 'yolov5', why: `one output [1, ${a}, ${b}] = 3 anchors x the cells of strides 8/16/32: cx cy w h obj + ${b - 5} classes (YOLOv5/v7, decoded)`, labels: b - 5 };
    if (a === cells([8, 16, 32]) || a === cells([8, 16, 32, 64])) return { type: 'gfl', why: `one output [1, ${a}, ${b}] over the cells of strides 8/16/32(/64): classes + 4 x bins distribution (NanoDet-Plus style); check bins`, labels: null };
  }
  if (outputs.length === 2) {
    const anchor = guessAnchorRegression(outputs, input);
    if (anchor) return anchor;
    const [p, q] = outputs.map((o) => o.shape);
    if (p!.length === 3 && q!.length === 3 && p![1] === q![1] && (p![2] === 4 || q![2] === 4)) {
      const scores = p![2] === 4 ? q! : p!;
      return { type: 'prior-boxes', why: `two outputs with ${p![1]} rows each: scores [.., ${scores[2]}] and boxes [.., 4] (UltraFace-style, prior-decoded)`, labels: scores[2]! };
    }
  }
  if (outputs.length === 4) return { type: 'ssd-postprocess', why: 'four outputs: boxes, classes, scores, count (TFLite_Detection_PostProcess)', labels: null };
  if (outputs.length >= 3 && outputs.every((o) => o.shape.length === 3)) return { type: 'gfl', why: `${outputs.length} outputs of rank 3, one per stride (NanoDet GFL heads); check strides and bins`, labels: null };
  return { type: 'unknown', why: `no family matches outputs ${outputs.map((o) => `[${o.shape.join(',')}]`).join(' ')}; see docs/models.md, "Decoders"`, labels: null };
}
