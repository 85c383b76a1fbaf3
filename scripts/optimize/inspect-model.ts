import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { AgentError } from '../../agent/errors.js';
import { decodeModel, elemTypeOf, inferShapes, realInputs, valueInfoDims } from '../../drivers/onnx/index.js';
import { inspectTflite } from './inspect-tflite.js';
import { guessDecoder, type ModelInspection, type TensorQuant } from './inspect-guess.js';

export { guessDecoder, guessLayout, type ModelInspection, type TensorQuant } from './inspect-guess.js';

const DTYPES: Record<number, string> = { 1: 'float32', 2: 'uint8', 3: 'int8', 6: 'int32', 7: 'int64', 10: 'float16', 11: 'float64' };
const QUANT_OPS = new Set(['QuantizeLinear', 'DequantizeLinear', 'QLinearConv', 'QLinearMatMul', 'ConvInteger', 'MatMulInteger', 'DynamicQuantizeLinear', 'QGemm']);

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
