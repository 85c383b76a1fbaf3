import { encodeModel } from '../../drivers/onnx/index.js';
import type { Logger } from '../../agent/log.js';
import type { Detection } from '../../agent/types.js';
import { compareDetections, type DetectionAgreement } from '../../agent/select/agreement.js';
import { calibrate, type CalibrationTensor, type TensorStats } from './calibrate.js';
import type { CalibrationMethod } from './histogram.js';
import { layerTable, type LayerReport } from './layers.js';
import { activationTensors, fusePlan, type QuantTarget } from './plan.js';
import type { PreparedModel } from './prepare.js';
import { buildQdqModel } from './qdq.js';
import type { ActivationParams } from './quant-math.js';

/**
 * The int8 search `optimize` runs on the user's frames, in the order a careful engineer would: every activation
 * calibration method asked for, asymmetric and symmetric activation ranges, weights per channel at the width the CPU
 * suits (cpu-int8.ts); each candidate is scored by its agreement with the fp32 model on held-out frames. When no
 * candidate meets the floor, the most sensitive layers (lowest per-layer SQNR, weight or output) are left in float
 * one at a time, each step measured again, until the floor is met or the budget of float layers is spent.
 */

export interface Trial {
  /** e.g. "entropy, asymmetric, 8-bit weights, 2 layer(s) float". */
  label: string;
  method: CalibrationMethod;
  symmetric: boolean;
  weightBits: 7 | 8;
  floatLayers: string[];
  agreement: DetectionAgreement;
  bytes: Uint8Array;
  layers: LayerReport[];
  keep: QuantTarget[];
  params: Map<string, ActivationParams>;
}

export interface SearchInput {
  prep: PreparedModel;
  targets: QuantTarget[];
  calibration: CalibrationTensor[];
  methods: CalibrationMethod[];
  percentile?: number;
  weightBits: 7 | 8;
  /** QDQ around the ops between layers too (plan.ts fusePlan); default true. */
  fuse?: boolean;
  /** Try symmetric activation ranges too (zero point 128). */
  symmetric: boolean;
  minSqnrDb: number;
  minAgreement: number;
  /** Most layers the search may leave float on top of the SQNR rule. */
  maxFloatLayers: number;
  /** Runs a candidate model on the held-out frames. */
  detect: (bytes: Uint8Array, label: string) => Promise<Detection[][]>;
  /** The fp32 detections on the same frames. */
  reference: Detection[][];
  log: Logger;
  progress: (done: number, total: number, stage: string) => void;
}

export interface SearchResult {
  /** The first candidate meeting the floor with the fewest float layers (best agreement among equals), if any. */
  chosen?: Trial;
  /** The candidate with the highest agreement, for the refusal message. */
  best: Trial;
  trials: Trial[];
}

/** Symmetric uint8 range: zero point 128, scale from the larger magnitude. */
export function symmetricParams(p: ActivationParams, s: TensorStats): ActivationParams {
  const m = Math.max(Math.abs(s.range.min), Math.abs(s.range.max));
  const scale = m > 0 && Number.isFinite(m) ? m / 127 : p.scale;
  return { scale, zeroPoint: 128, qmin: 0, qmax: 255 };
}

export async function searchInt8(o: SearchInput): Promise<SearchResult> {
  const trials: Trial[] = [];
  const reduceRange = o.weightBits === 7;
  // QDQ also around SiLU (Sigmoid, Mul), Add, Concat, Resize, pools: see plan.ts fusePlan.
  const fuse = o.fuse === false ? { tensors: [], sameAs: new Map<string, string>() } : fusePlan(o.prep, o.targets);
  const tensors = [...activationTensors(o.targets), ...fuse.tensors];
  const reluOutputs = new Set(o.targets.filter((t) => t.relu).map((t) => t.output));
  const build = (keep: QuantTarget[], params: Map<string, ActivationParams>): Uint8Array => {
    const wanted = new Set([...activationTensors(keep), ...fuse.tensors]);
    return encodeModel(buildQdqModel(o.prep, keep, new Map([...params].filter(([k]) => wanted.has(k))), { reduceRange }).model);
  };
  const score = async (t: Omit<Trial, 'agreement'>): Promise<Trial> => {
    const dets = await o.detect(t.bytes, t.label);
    const trial = { ...t, agreement: compareDetections(o.reference, dets) };
    trials.push(trial);
    o.log.info({ trial: t.label, agreement: Number(trial.agreement.value.toFixed(4)), recall: trial.agreement.recall, precision: trial.agreement.precision }, 'int8 candidate');
    return trial;
  };
  for (const method of o.methods) {
    const stats = await calibrate(o.prep, tensors, o.calibration, { method, percentile: o.percentile, log: o.log, progress: (d, t, stage) => o.progress(d, t, `calibrate ${method}: ${stage}`) });
    const asym = new Map([...stats].map(([k, v]) => [k, v.params]));
    for (const [out, inp] of fuse.sameAs) asym.set(out, asym.get(inp)!);
    const first = buildQdqModel(o.prep, o.targets, asym, { reduceRange });
    const layers = layerTable(o.targets, stats, first.weightErrors, o.minSqnrDb);
    const keep = o.targets.filter((t) => layers.find((l) => l.layer === t.name)!.quantised);
    for (const symmetric of o.symmetric ? [false, true] : [false]) {
      // A folded ReLU relies on zero point 0 clipping negatives, so those outputs keep their one-sided range.
      const params = symmetric ? new Map([...stats].map(([k, v]) => [k, reluOutputs.has(k) ? v.params : symmetricParams(v.params, v)])) : asym;
      if (symmetric) for (const [out, inp] of fuse.sameAs) params.set(out, params.get(inp)!);
      const label = `${method}, ${symmetric ? 'symmetric' : 'asymmetric'}, ${o.weightBits}-bit weights${fuse.tensors.length ? `, ${fuse.tensors.length} fused QDQ` : ''}`;
      await score({ label, method, symmetric, weightBits: o.weightBits, floatLayers: layers.filter((l) => !l.quantised).map((l) => l.layer), bytes: build(keep, params), layers, keep, params });
    }
  }
  const meets = (t: Trial): boolean => t.agreement.value >= o.minAgreement;
  const byAgreement = (a: Trial, b: Trial): number => b.agreement.value - a.agreement.value || a.floatLayers.length - b.floatLayers.length;
  let ok = trials.filter(meets).sort(byAgreement);
  if (ok.length) return { chosen: ok[0], best: ok[0]!, trials };

  // Leave the most sensitive layers float, one at a time, starting from the best configuration.
  const start = [...trials].sort(byAgreement)[0]!;
  const order = [...start.layers].filter((l) => l.quantised).sort((a, b) => Math.min(a.weightSqnrDb, a.outputSqnrDb) - Math.min(b.weightSqnrDb, b.outputSqnrDb));
  let keep = start.keep;
  const layers = start.layers.map((l) => ({ ...l }));
  for (let k = 0; k < Math.min(o.maxFloatLayers, order.length - 1); k++) {
    const l = order[k]!;
    keep = keep.filter((t) => t.name !== l.layer);
    const row = layers.find((x) => x.layer === l.layer)!;
    row.quantised = false;
    row.reason = `most sensitive left (SQNR ${Math.min(l.weightSqnrDb, l.outputSqnrDb)} dB): float to reach the agreement floor`;
    const floatLayers = layers.filter((x) => !x.quantised).map((x) => x.layer);
    const t = await score({ ...start, label: `${start.label}, ${floatLayers.length} layer(s) float`, floatLayers, keep, layers: layers.map((x) => ({ ...x })), bytes: build(keep, start.params) });
    o.progress(k + 1, Math.min(o.maxFloatLayers, order.length - 1), 'sensitive layers to float');
    if (meets(t)) return { chosen: t, best: t, trials };
  }
  ok = trials.filter(meets);
  return { best: [...trials].sort(byAgreement)[0]!, trials, ...(ok.length ? { chosen: ok[0] } : {}) };
}
