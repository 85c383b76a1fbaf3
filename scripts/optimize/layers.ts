import { sqnrDb } from './quant-math.js';
import type { TensorStats } from './calibrate.js';
import type { QuantTarget } from './plan.js';
import type { WeightError } from './qdq.js';

/** One row of the per-layer quantisation error table. */
export interface LayerReport {
  layer: string;
  opType: string;
  /** eps = mean((w - Q(w))^2) of the int8 weights, and the same as a signal-to-noise ratio. */
  weightEps: number;
  weightSqnrDb: number;
  /** The activation the layer writes (after a folded ReLU) and its eps over the calibration frames. */
  output: string;
  outputEps: number;
  outputSqnrDb: number;
  /** eps of the activation the layer reads. */
  inputEps: number;
  inputSqnrDb: number;
  quantised: boolean;
  /** Why it stayed float. */
  reason?: string;
}

const round = (x: number, d = 2): number => (Number.isFinite(x) ? Number(x.toFixed(d)) : x);

/**
 * The seed's per-layer error eps = mean((x - Q(x))^2) for weights and activations, with the SQNR in dB
 * (10 log10(mean(x^2) / eps)), which is comparable across layers whatever their scale. A layer whose weight or
 * output SQNR is below `minSqnrDb` is left in float.
 */
export function layerTable(targets: QuantTarget[], stats: Map<string, TensorStats>, weights: WeightError[], minSqnrDb: number): LayerReport[] {
  const w = new Map(weights.map((x) => [x.layer, x]));
  return targets.map((t) => {
    const we = w.get(t.name)!;
    const o = stats.get(t.output)!;
    const i = stats.get(t.input)!;
    const weightSqnrDb = we.eps > 0 ? 10 * Math.log10(we.power / we.eps) : Infinity;
    const outputSqnrDb = sqnrDb(o.error);
    const inputSqnrDb = sqnrDb(i.error);
    const row: LayerReport = {
      layer: t.name,
      opType: t.opType,
      weightEps: Number(we.eps.toPrecision(3)),
      weightSqnrDb: round(weightSqnrDb, 1),
      output: t.output,
      outputEps: Number((o.error.sumSq / Math.max(1, o.error.count)).toPrecision(3)),
      outputSqnrDb: round(outputSqnrDb, 1),
      inputEps: Number((i.error.sumSq / Math.max(1, i.error.count)).toPrecision(3)),
      inputSqnrDb: round(inputSqnrDb, 1),
      quantised: true,
    };
    const worst = Math.min(weightSqnrDb, outputSqnrDb);
    if (worst < minSqnrDb) {
      row.quantised = false;
      row.reason = `${weightSqnrDb < outputSqnrDb ? 'weight' : 'output'} SQNR ${round(worst, 1)} dB < ${minSqnrDb} dB`;
    }
    return row;
  });
}
