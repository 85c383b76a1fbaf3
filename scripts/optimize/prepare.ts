import { AgentError } from '../../agent/errors.js';
import {
  decodeModel,
  encodeModel,
  inferShapes,
  optimizeWithOrt,
  realInputs,
  topoSort,
  upgradeOpset,
  type Model,
  type TensorShape,
} from '../../drivers/onnx/index.js';
import { splitMaxPools } from './split-pools.js';

/** Operators that mark a model as already quantised. */
const quantisedOps = new Set([
  'QuantizeLinear', 'DequantizeLinear', 'DynamicQuantizeLinear', 'QLinearConv', 'QLinearMatMul', 'QLinearAdd',
  'QLinearMul', 'ConvInteger', 'MatMulInteger', 'QGemm', 'QAttention', 'DynamicQuantizeMatMul',
]);

export interface PreparedModel {
  /** The float model after clean-up, at opset >= 13, topologically sorted, every node named. */
  model: Model;
  inputName: string;
  inputDims: number[];
  shapes: Map<string, TensorShape>;
  /** MaxPool nodes rewritten as two one-dimensional pools. */
  splitPools: string[];
}

/**
 * Makes a float model ready to quantise:
 * 1. refuses models that are already quantised, have several inputs, or dynamic shapes;
 * 2. drops initializers from the graph inputs (old exporters list every weight as an input, which stops ONNX
 *    Runtime from treating them as constants and so from folding BatchNormalization into Conv);
 * 3. runs ONNX Runtime's 'basic' optimiser (constant folding, BN/Mul/Add folding into Conv);
 * 4. moves the graph to opset 13 (per-channel QuantizeLinear/DequantizeLinear need the `axis` attribute);
 * 5. splits k x k max-pools into k x 1 and 1 x k ones (bit-identical, fewer comparisons; see split-pools.ts);
 * 6. infers every tensor's shape (which also rejects operators we do not know).
 */
export async function prepareModel(bytes: Uint8Array, what: string): Promise<PreparedModel> {
  const original = decodeModel(bytes, what);
  const q = original.graph.node.find((n) => quantisedOps.has(n.opType));
  if (q) {
    throw new AgentError('MODEL_INVALID', `${what} is already quantised (node ${q.name || q.output[0]} is ${q.opType})`, {
      fix: 'optimize the float32 variant of the model, not a quantised one',
    });
  }
  const inputs = realInputs(original.graph);
  if (inputs.length !== 1) {
    throw new AgentError('MODEL_INVALID', `${what} has ${inputs.length} inputs (${inputs.join(', ')}); optimize handles single-image-input models`, {
      fix: 'export the model with one image input',
    });
  }
  const inits = new Set(original.graph.initializer.map((t) => t.name));
  original.graph.input = original.graph.input.filter((i) => !inits.has(i.name));
  inferShapes(original); // dynamic shapes and unknown operators fail here, before ONNX Runtime is involved
  const model = decodeModel(await optimizeWithOrt(encodeModel(original)), `${what} (optimised)`);
  const usedDomains = new Set(model.graph.node.map((n) => n.domain ?? ''));
  model.opsetImport = (model.opsetImport ?? []).filter((o) => !o.domain || o.domain === 'ai.onnx' || usedDomains.has(o.domain));
  const foreign = model.graph.node.find((n) => n.domain && n.domain !== 'ai.onnx');
  if (foreign) {
    throw new AgentError('MODEL_INVALID', `${what} uses operator ${foreign.domain}.${foreign.opType}, which optimize cannot quantise`, {
      fix: 'export the model with standard ONNX operators only',
    });
  }
  topoSort(model.graph);
  upgradeOpset(model, 13);
  const seen = new Set<string>();
  for (const n of model.graph.node) {
    if (!n.name || seen.has(n.name)) n.name = `${n.opType}_${n.output[0]}`;
    seen.add(n.name);
  }
  const splitPools = splitMaxPools(model);
  model.graph.valueInfo = [];
  const shapes = inferShapes(model);
  const inputName = inputs[0]!;
  return { model, inputName, inputDims: shapes.get(inputName)!.dims, shapes, splitPools };
}
