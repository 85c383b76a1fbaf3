import { createHash } from 'node:crypto';
import { basename, extname } from 'node:path';
import { guessDecoder, guessLayout, type ModelInspection, type TensorQuant } from './inspect-guess.js';
import { EDGETPU_CUSTOM_OP, readTfliteModel, type TfliteModelFile, type TfliteTensor } from './tflite-file.js';

const POSTPROCESS_OP = 'TFLite_Detection_PostProcess';

function quantOf(t: TfliteTensor): TensorQuant | undefined {
  if (!t.quant) return undefined;
  return t.quant.axis === undefined ? { scale: [t.quant.scale[0]!], zeroPoint: [t.quant.zeroPoint[0]!] } : { ...t.quant };
}

/** What `edge-agent inspect` finds in a .tflite file, read from the flatbuffer itself (no TFLite runtime needed). */
export function inspectTflite(file: string, bytes: Buffer): ModelInspection {
  const m = readTfliteModel(bytes, file);
  const notes: string[] = [];
  const inputs = m.inputs.map((t) => ({ name: t.name, shape: t.shape, dtype: t.dtype, layout: guessLayout(t.shape, 'NHWC'), ...(quantOf(t) ? { quant: quantOf(t) } : {}) }));
  const outputs = m.outputs.map((t) => ({ name: t.name, shape: t.shape, dtype: t.dtype, ...(t.shape.length === 4 ? { layout: guessLayout(t.shape, 'NHWC') } : {}), ...(quantOf(t) ? { quant: quantOf(t) } : {}) }));
  const compiled = m.customOps.includes(EDGETPU_CUSTOM_OP);
  const inp = inputs[0];
  for (const t of m.inputs.filter((x) => x.shapeSignature)) notes.push(`input ${t.name} has dynamic dimensions [${t.shapeSignature!.join(',')}]: put the size you will run in input.shape`);
  const h = inp ? (inp.layout === 'NCHW' ? inp.shape[2]! : inp.shape[1]!) : 0;
  const w = inp ? (inp.layout === 'NCHW' ? inp.shape[3]! : inp.shape[2]!) : 0;
  const post = postprocess(m);
  const decoder = post ?? guessDecoder(outputs, { h, w });
  const feedback = feedbackPairs(m, post ? new Set(m.customOpOutputs[POSTPROCESS_OP]) : new Set());
  if (feedback.length) decoder.params = { ...(decoder.params ?? {}), feedback };
  const extraInputs = inputs.length - 1 - feedback.length;
  if (extraInputs > 0) notes.push(`${inputs.length} inputs: the agent feeds one image tensor; describe the others as decoder.params.feedback pairs (docs/models.md, "Recurrent models")`);
  if (post && outputs.some((o) => o.shape.length === 0)) notes.push(`${POSTPROCESS_OP}'s output shapes are set when the model is prepared (the file declares them empty); the runtime reports [1,M,4], [1,M], [1,M], [1]`);
  if (compiled) notes.push('compiled for the Edge TPU: it runs only on a Coral (accelerator edgetpu); keep the CPU .tflite it was compiled from as a second variant for boards without one');
  const q = m.quantisedWeights;
  const quantisation = q.tensors
    ? `quantised: ${q.tensors} constant tensor(s) ${q.dtypes.join('/')}${q.perAxis ? `, ${q.perAxis} per-axis` : ', per-tensor'}${inputs.some((i) => i.quant) ? `; input ${[...new Set(inputs.filter((i) => i.quant).map((i) => i.dtype))].join('/')} quantised` : '; float input'}`
    : m.float16Weights
      ? `none (float32 compute; ${m.float16Weights} weight tensor(s) stored as float16, dequantised at load)`
      : compiled
        ? 'compiled for the Edge TPU (its quantised weights are inside the custom op)'
        : 'none (float)';
  const quantisedInput = inp?.quant && (inp.dtype === 'uint8' || inp.dtype === 'int8');
  const precision = compiled || quantisedInput ? (inp?.dtype === 'int8' ? 'int8' : 'uint8') : q.tensors ? 'int8' : 'fp32';
  const labels = Array.from({ length: decoder.labels ?? 1 }, (_, i) => `class${i}`);
  const name = basename(file, extname(file)).replace(/[^A-Za-z0-9._-]/g, '-');
  // A quantised input takes raw pixels: real = scale * (pixel - zero_point), i.e. mean = zero_point, std = 1/scale.
  const normalise = quantisedInput && inp!.quant!.axis === undefined
    ? { mean: [0, 0, 0].map(() => inp!.quant!.zeroPoint[0]!), std: [0, 0, 0].map(() => Number((1 / inp!.quant!.scale[0]!).toPrecision(6))) }
    : { mean: [0, 0, 0], std: [255, 255, 255] };
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const manifest = {
    schema: 1,
    name,
    labels,
    input: {
      name: inp?.name ?? 'input',
      shape: inp?.shape.map((d) => (d > 0 ? d : 1)) ?? [1, 320, 320, 3],
      layout: inp?.layout === 'NCHW' ? 'NCHW' : 'NHWC',
      dtype: inp?.dtype === 'uint8' || inp?.dtype === 'int8' ? inp.dtype : 'float32',
      color: 'RGB',
      resize: 'stretch',
      normalise,
    },
    decoder: {
      type: decoder.type,
      params: decoder.params ?? {},
      scoreThreshold: decoder.type === 'anchor-regression' ? 0.5 : 0.25,
      nms: decoder.type === 'ssd-postprocess' ? { iou: 0.5, classAgnostic: false, method: 'none', maxDetections: 100 } : decoder.type === 'anchor-regression' ? { iou: 0.3, classAgnostic: true, method: 'weighted', maxDetections: 100 } : { iou: 0.45, classAgnostic: false, method: 'hard', maxDetections: 100 },
    },
    variants: [{ name: `${name}-${precision}${compiled ? '-edgetpu' : ''}`, file: basename(file), runtime: 'tflite', accelerator: compiled ? 'edgetpu' : 'cpu', precision, sha256 }],
  };
  notes.push('to confirm: labels (names in class order), color, resize, normalise (mean/std in pixel units) and the decoder params; then `edge-agent detect --model DIR --image sample.jpg --out check.png`');
  return { file, format: 'tflite', sha256, inputs, outputs, quantisation, opset: m.schemaVersion, edgeTpu: { compiled, customOps: m.customOps }, decoder, manifest, notes };
}

/** TFLite_Detection_PostProcess writes boxes, classes, scores and the count, in that order (its four outputs). */
function postprocess(m: TfliteModelFile): ModelInspection['decoder'] | undefined {
  const outs = m.customOpOutputs[POSTPROCESS_OP];
  if (!outs || outs.length !== 4) return undefined;
  const byIndex = new Map(m.outputs.map((t) => [t.index, t.name]));
  const names = outs.map((i) => byIndex.get(i));
  if (names.some((n) => n === undefined)) return undefined;
  const [boxes, classes, scores, count] = names as [string, string, string, string];
  return { type: 'ssd-postprocess', why: `the model ends in ${POSTPROCESS_OP} (SSD boxes, classes, scores, count; NMS done inside, so nms.method none)`, labels: null, params: { boxes, classes, scores, count, labelOffset: 0, boxOrder: 'yxyx' } };
}

/**
 * Recurrent state: an output (not a detection output) with the same shape and dtype as an input other than the
 * first is fed back into it on the next frame (the Coral LSTM-SSD's lstm_c/lstm_h). Pairs in declaration order.
 */
function feedbackPairs(m: TfliteModelFile, detection: Set<number>): Array<[string, string]> {
  const states = m.inputs.slice(1);
  const used = new Set<number>();
  const pairs: Array<[string, string]> = [];
  for (const o of m.outputs.filter((t) => !detection.has(t.index))) {
    const i = states.findIndex((s, k) => !used.has(k) && s.dtype === o.dtype && s.shape.length > 0 && s.shape.join(',') === o.shape.join(','));
    if (i < 0) continue;
    used.add(i);
    pairs.push([o.name, states[i]!.name]);
  }
  return pairs;
}
