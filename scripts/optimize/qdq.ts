import {
  decodeModel,
  dimsOf,
  encodeModel,
  initializerMap,
  makeFloatTensor,
  makeInt32Tensor,
  makeInt8Tensor,
  makeNode,
  makeUint8Tensor,
  toFloat32,
  topoSort,
  uniqueNamer,
  type Model,
  type NodeProto,
} from '../../drivers/onnx/index.js';
import { quantizeBias, quantizePerChannel, type ActivationParams } from './quant-math.js';
import type { QuantTarget } from './plan.js';
import type { PreparedModel } from './prepare.js';

/**
 * Writes the quantised model in QDQ form: every quantised activation tensor T becomes
 * T -> QuantizeLinear -> DequantizeLinear -> (readers of T), and each layer's weight becomes an int8
 * initializer read through a per-channel DequantizeLinear; the bias becomes int32 with
 * scale = input_scale * weight_scale[c] and zero point 0 (the exact value QLinearConv adds to its int32
 * accumulator, so ONNX Runtime requires this scale).
 *
 * Why uint8 activations and int8 weights (U8S8): ONNX Runtime's CPU kernels (MLAS) are fastest for u8 x s8 on
 * x86-64 (AVX2: VPMADDUBSW multiplies unsigned by signed bytes) and on ARM64 (UDOT/SDOT paths); its QDQ
 * transformer rewrites DQ -> Conv -> Q into QLinearConv, DQ -> MatMul -> Q into QLinearMatMul and
 * DQ -> Gemm -> Q into QGemm when the model runs with graph optimisation enabled. Asymmetric uint8 also spends
 * all 256 levels on one-sided ReLU outputs. The `reduceRange` option (7-bit weights) avoids the int16 overflow
 * of VPMADDUBSW pairs on AVX2 CPUs without VNNI.
 */

export interface QdqOptions {
  reduceRange?: boolean;
}

export interface WeightError {
  layer: string;
  eps: number;
  power: number;
}

export interface QdqResult {
  model: Model;
  weightErrors: WeightError[];
}

export function buildQdqModel(prep: PreparedModel, targets: QuantTarget[], params: Map<string, ActivationParams>, opts: QdqOptions = {}): QdqResult {
  const model = decodeModel(encodeModel(prep.model)); // deep copy; the prepared model is reused
  const g = model.graph;
  const name = uniqueNamer(g);
  const inits = initializerMap(g);
  const byName = new Map(g.node.map((n) => [n.name, n]));
  const newNodes: NodeProto[] = [];
  const weightErrors: WeightError[] = [];
  const removed = new Set<NodeProto>();

  // 1. Fold ReLUs into the layer outputs.
  for (const t of targets) {
    if (!t.relu) continue;
    const node = byName.get(t.name)!;
    const relu = byName.get(t.relu)!;
    node.output[0] = relu.output[0]!;
    removed.add(relu);
  }
  g.node = g.node.filter((n) => !removed.has(n));

  // 2. Weights and biases.
  for (const t of targets) {
    const node = byName.get(t.name)!;
    const wT = inits.get(t.weight)!;
    const wDims = dimsOf(wT);
    const cq = quantizePerChannel(toFloat32(wT), wDims, t.weightAxis, opts.reduceRange);
    weightErrors.push({ layer: t.name, eps: cq.eps, power: cq.power });
    const base = t.weight;
    const qName = name(`${base}_quantized`);
    const sName = name(`${base}_scale`);
    const zName = name(`${base}_zero_point`);
    const dqOut = name(`${base}_dequantized`);
    const channels = cq.scales.length;
    g.initializer.push(makeInt8Tensor(qName, wDims, cq.q), makeFloatTensor(sName, [channels], cq.scales), makeInt8Tensor(zName, [channels], new Int8Array(channels)));
    newNodes.push(makeNode('DequantizeLinear', [qName, sName, zName], [dqOut], name(`${base}_DequantizeLinear`), { axis: t.weightAxis }));
    node.input[1] = dqOut;
    const xParams = params.get(t.input);
    if (t.bias && xParams) {
      const bT = inits.get(t.bias);
      if (bT && bT.dataType === 1) {
        const bq = quantizeBias(toFloat32(bT), xParams.scale, cq.scales);
        const bqName = name(`${t.bias}_quantized`);
        const bsName = name(`${t.bias}_scale`);
        const bzName = name(`${t.bias}_zero_point`);
        const bOut = name(`${t.bias}_dequantized`);
        g.initializer.push(makeInt32Tensor(bqName, [bq.q.length], bq.q), makeFloatTensor(bsName, [bq.q.length], bq.scales), makeInt32Tensor(bzName, [bq.q.length], new Int32Array(bq.q.length)));
        newNodes.push(makeNode('DequantizeLinear', [bqName, bsName, bzName], [bOut], name(`${t.bias}_DequantizeLinear`), { axis: 0 }));
        node.input[2] = bOut;
      }
    }
  }

  // 3. Activation QDQ pairs.
  const graphOutputs = new Set(g.output.map((o) => o.name));
  const producers = new Map<string, NodeProto>();
  for (const n of g.node) for (const o of n.output) producers.set(o, n);
  for (const [tensor, p] of params) {
    const sName = name(`${tensor}_scale`);
    const zName = name(`${tensor}_zero_point`);
    g.initializer.push(makeFloatTensor(sName, [], Float32Array.of(p.scale)), makeUint8Tensor(zName, [], Uint8Array.of(p.zeroPoint)));
    const qOut = name(`${tensor}_quantized`);
    const producer = producers.get(tensor);
    if (producer && graphOutputs.has(tensor)) {
      // A graph output keeps its name: the producer writes a new tensor, Q/DQ restore the named one.
      const pre = name(`${tensor}_float`);
      producer.output[producer.output.indexOf(tensor)] = pre;
      newNodes.push(makeNode('QuantizeLinear', [pre, sName, zName], [qOut], name(`${tensor}_QuantizeLinear`)));
      newNodes.push(makeNode('DequantizeLinear', [qOut, sName, zName], [tensor], name(`${tensor}_DequantizeLinear`)));
      continue;
    }
    const dqOut = name(`${tensor}_dequantized`);
    for (const n of g.node) for (let i = 0; i < n.input.length; i++) if (n.input[i] === tensor) n.input[i] = dqOut;
    newNodes.push(makeNode('QuantizeLinear', [tensor, sName, zName], [qOut], name(`${tensor}_QuantizeLinear`)));
    newNodes.push(makeNode('DequantizeLinear', [qOut, sName, zName], [dqOut], name(`${tensor}_DequantizeLinear`)));
  }
  g.node.push(...newNodes);
  // 4. Float weights and biases now unused are dropped.
  const used = new Set(g.node.flatMap((n) => n.input));
  g.initializer = g.initializer.filter((t) => used.has(t.name));
  topoSort(g);
  return { model, weightErrors };
}
