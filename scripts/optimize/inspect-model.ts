import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { AgentError } from '../../agent/errors.js';
import { decodeModel, elemTypeOf, inferShapes, realInputs, valueInfoDims } from '../../drivers/onnx/index.js';
import { inspectTflite } from './inspect-tflite.js';

/** What `edge-agent inspect` finds in an ONNX file, and a manifest drafted from it for the user to confirm. */
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

const DTYPES: Record<number, string> = { 1: 'float32', 2: 'uint8', 3: 'int8', 6: 'int32', 7: 'int64', 10: 'float16', 11: 'float64' };
const QUANT_OPS = new Set(['QuantizeLinear', 'DequantizeLinear', 'QLinearConv', 'QLinearMatMul', 'ConvInteger', 'MatMulInteger', 'DynamicQuantizeLinear', 'QGemm']);

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

export function inspectModel(file: string): ModelInspection {
  const ext = extname(file).toLowerCase();
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new AgentError('MODEL_NOT_FOUND', `cannot read ${file} (${(err as Error).message})`, { fix: 'give the path of an .onnx or .tflite file' });
  }
  // The extension decides; a file named otherwise is recognised by the TFLite identifier "TFL3" at bytes 4..8.
  if (ext === '.tflite' || (ext !== '.onnx' && bytes.length >= 8 && bytes.toString('latin1', 4, 8) === 'TFL3')) return inspectTflite(file, bytes);
  if (ext !== '.onnx') {
    throw new AgentError('MODEL_INVALID', `${file} is not a model file: inspect reads ONNX files (.onnx) and TFLite files (.tflite)`, { fix: 'give the path of an .onnx or .tflite model file' });
  }
  const model = decodeModel(bytes, file);
  const g = model.graph;
  const notes: string[] = [];
  const inputs = realInputs(g).map((name) => {
    const shape = valueInfoDims(g, name) ?? [];
    const layout: 'NCHW' | 'NHWC' | 'unknown' = shape.length === 4 && (shape[1] === 3 || shape[1] === 1) ? 'NCHW' : shape.length === 4 && (shape[3] === 3 || shape[3] === 1) ? 'NHWC' : 'unknown';
    return { name, shape, dtype: DTYPES[elemTypeOf(g, name) ?? 0] ?? 'unknown', layout };
  });
  let shapes: ReturnType<typeof inferShapes> | undefined;
  try {
    shapes = inferShapes(model);
  } catch (err) {
    notes.push(`output shapes from the file's declarations only (${(err as Error).message.split('\n')[0]})`);
  }
  const outputs = g.output.map((o) => ({ name: o.name, shape: shapes?.get(o.name)?.dims ?? valueInfoDims(g, o.name) ?? [], dtype: DTYPES[elemTypeOf(g, o.name) ?? 0] ?? 'unknown' }));
  const qOps = [...new Set(g.node.filter((n) => QUANT_OPS.has(n.opType)).map((n) => n.opType))];
  const int8W = g.initializer.filter((t) => (t.dataType === 2 || t.dataType === 3) && t.dims.length >= 2).length;
  const quantisation = qOps.length ? `quantised: ${qOps.join(', ')}${int8W ? `, ${int8W} int8/uint8 weight tensor(s)` : ''}` : int8W ? `${int8W} int8/uint8 weight tensor(s)` : 'none (float)';
  const opset = Number(model.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx')?.version ?? 0);
  const inp = inputs[0];
  if (inputs.length !== 1) notes.push(`${inputs.length} inputs: the agent feeds one image tensor; a recurrent model needs its state inputs described (docs/models.md, "Recurrent models")`);
  if (inp && inp.shape.some((d) => d < 0)) notes.push(`input ${inp.name} has dynamic dimensions [${inp.shape.join(',')}]: put the size you will run in input.shape`);
  const h = inp ? (inp.layout === 'NHWC' ? inp.shape[1]! : inp.shape[2]!) : 0;
  const w = inp ? (inp.layout === 'NHWC' ? inp.shape[2]! : inp.shape[3]!) : 0;
  const decoder = guessDecoder(outputs, { h, w });
  const labels = Array.from({ length: decoder.labels ?? 1 }, (_, i) => `class${i}`);
  const precision = qOps.length ? 'int8' : 'fp32';
  const name = basename(file, extname(file)).replace(/[^A-Za-z0-9._-]/g, '-');
  const manifest = {
    schema: 1,
    name,
    labels,
    input: {
      name: inp?.name ?? 'input',
      shape: inp?.shape.map((d) => (d > 0 ? d : 1)) ?? [1, 3, 320, 320],
      layout: inp?.layout === 'NHWC' ? 'NHWC' : 'NCHW',
      dtype: inp?.dtype === 'uint8' || inp?.dtype === 'int8' ? inp.dtype : 'float32',
      color: 'RGB',
      resize: 'stretch',
      normalise: { mean: [0, 0, 0], std: [255, 255, 255] },
    },
    decoder: { type: decoder.type, params: decoder.params ?? (decoder.type === 'yolov8' || decoder.type === 'yolox' || decoder.type === 'yolov5' ? { output: outputs[0]!.name } : {}), scoreThreshold: 0.25, nms: { iou: 0.45, classAgnostic: false, method: 'hard', maxDetections: 100 } },
    variants: [{ name: `${name}-${precision}`, file: basename(file), runtime: 'onnxruntime', accelerator: 'cpu', precision, sha256: createHash('sha256').update(bytes).digest('hex') }],
  };
  notes.push('to confirm: labels (names in class order), color, resize, normalise (mean/std in pixel units) and the decoder params; then `edge-agent detect --model DIR --image sample.jpg --out check.png`');
  return { file, format: 'onnx', sha256: manifest.variants[0]!.sha256, inputs, outputs, quantisation, opset, decoder, manifest, notes };
}

export function formatInspection(r: ModelInspection): string {
  const kind = r.format === 'tflite' ? `TFLite schema ${r.opset}` : `ONNX opset ${r.opset}`;
  const out = [`${r.file}  (${kind}, sha256 ${r.sha256.slice(0, 16)}...)`, 'inputs:'];
  for (const i of r.inputs) out.push(`  ${i.name}  [${i.shape.join(', ')}]  ${i.dtype}  layout ${i.layout}${quantCell(i.quant)}`);
  out.push('outputs:');
  for (const o of r.outputs) out.push(`  ${o.name}  [${o.shape.join(', ')}]  ${o.dtype}${o.layout && o.layout !== 'unknown' ? `  layout ${o.layout}` : ''}${quantCell(o.quant)}`);
  out.push(`quantisation: ${r.quantisation}`);
  if (r.edgeTpu) out.push(`Edge TPU: ${r.edgeTpu.compiled ? 'compiled for the Edge TPU (edgetpu-custom-op): runs only with accelerator edgetpu on a Coral' : 'not compiled for the Edge TPU (runs on the CPU; edgetpu_compiler makes an _edgetpu.tflite twin)'}${r.edgeTpu.customOps.length ? `; custom ops: ${r.edgeTpu.customOps.join(', ')}` : ''}`);
  out.push(`decoder (guessed): ${r.decoder.type}: ${r.decoder.why}`);
  for (const n of r.notes) out.push(`note: ${n}`);
  out.push('', 'drafted manifest.json:', JSON.stringify(r.manifest, null, 2));
  return `${out.join('\n')}\n`;
}

function quantCell(q: TensorQuant | undefined): string {
  if (!q) return '';
  const num = (x: number): string => Number(x.toPrecision(6)).toString();
  if (q.axis === undefined) return `  quant scale ${num(q.scale[0]!)} zero point ${q.zeroPoint[0]}`;
  const few = (a: number[]): string => `${a.slice(0, 4).map(num).join(', ')}${a.length > 4 ? ', ...' : ''}`;
  return `  quant per-axis (axis ${q.axis}, ${q.scale.length} channels): scale [${few(q.scale)}] zero point [${few(q.zeroPoint)}]`;
}
