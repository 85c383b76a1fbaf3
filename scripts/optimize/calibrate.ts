import { createRunner, DataType, decodeModel, encodeModel, onnx, type FloatRunner } from '../../drivers/onnx/index.js';
import type { Logger } from '../../agent/log.js';
import { entropyRange, Histogram, percentileRange, updateMinMax, type CalibrationMethod, type MinMax } from './histogram.js';
import { accumulateError, newErrorAcc, uint8Params, type ActivationParams, type ErrorAcc } from './quant-math.js';
import type { PreparedModel } from './prepare.js';

/** One calibration input: the model's input tensor for one frame. */
export interface CalibrationTensor {
  data: Float32Array;
  dims: number[];
}

export interface CalibrationOptions {
  method: CalibrationMethod;
  /** For 'percentile': the kept fraction in percent, e.g. 99.99. */
  percentile?: number;
  log: Logger;
  /** Called after each frame of each pass: (done, total, pass label). */
  progress?: (done: number, total: number, pass: string) => void;
}

export interface TensorStats {
  min: number;
  max: number;
  /** The range chosen by the method (a sub-range of [min, max]). */
  range: MinMax;
  params: ActivationParams;
  /** eps = mean((x - Q(x))^2) and mean(x^2) over the calibration frames. */
  error: ErrorAcc;
}

/**
 * Runs the float model on the calibration frames with the wanted intermediate tensors exposed as extra graph
 * outputs, and derives each tensor's quantisation range:
 * pass 1 min-max; pass 2 (percentile/entropy) a histogram over the pass-1 range; last pass the quantisation
 * error eps of each tensor under its final parameters.
 */
export async function calibrate(prep: PreparedModel, tensors: string[], frames: CalibrationTensor[], opts: CalibrationOptions): Promise<Map<string, TensorStats>> {
  const runner = await exposeRunner(prep, tensors);
  const log = opts.log;
  try {
    const mm = new Map<string, MinMax>(tensors.map((t) => [t, { min: Infinity, max: -Infinity }]));
    const each = async (pass: string, fn: (name: string, data: Float32Array) => void): Promise<void> => {
      for (let i = 0; i < frames.length; i++) {
        const out = await runner.run({ [prep.inputName]: frames[i]! }, tensors);
        for (const t of tensors) fn(t, out[t]!.data);
        opts.progress?.(i + 1, frames.length, pass);
      }
    };
    await each('calibration: ranges', (t, d) => updateMinMax(mm.get(t)!, d));
    const ranges = new Map<string, MinMax>();
    if (opts.method === 'minmax') {
      for (const t of tensors) ranges.set(t, { ...mm.get(t)! });
    } else {
      const hist = new Map(tensors.map((t) => [t, new Histogram(mm.get(t)!)]));
      await each(`calibration: ${opts.method} histograms`, (t, d) => hist.get(t)!.add(d));
      for (const t of tensors) {
        const h = hist.get(t)!;
        const r = mm.get(t)!;
        ranges.set(t, opts.method === 'percentile' ? percentileRange(h, opts.percentile ?? 99.99) : entropyRange(h, r, r.min >= 0 ? 255 : 128));
      }
    }
    const stats = new Map<string, TensorStats>();
    for (const t of tensors) {
      const r = ranges.get(t)!;
      stats.set(t, { ...mm.get(t)!, range: r, params: uint8Params(r.min, r.max), error: newErrorAcc() });
    }
    await each('calibration: quantisation error', (t, d) => accumulateError(d, stats.get(t)!.params, stats.get(t)!.error));
    log.debug({ tensors: tensors.length, frames: frames.length, method: opts.method }, 'calibrated');
    return stats;
  } finally {
    await runner.release();
  }
}

/** A runner of the float model whose outputs include the given intermediate tensors. */
export async function exposeRunner(prep: PreparedModel, tensors: string[]): Promise<FloatRunner> {
  const m = decodeModel(encodeModel(prep.model));
  const have = new Set(m.graph.output.map((o) => o.name));
  for (const t of tensors) {
    if (have.has(t)) continue;
    m.graph.output.push(onnx.ValueInfoProto.create({ name: t, type: { tensorType: { elemType: DataType.FLOAT } } }));
  }
  return createRunner(encodeModel(m), { threads: 1, optimization: 'basic' });
}
