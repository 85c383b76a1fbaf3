import { attrInt, consumerMap, initializerMap, type Graph, type NodeProto } from '../../drivers/onnx/index.js';
import type { PreparedModel } from './prepare.js';

/** One layer that gets int8 weights: a Conv, Gemm or MatMul whose weight is a constant. */
export interface QuantTarget {
  /** Node name (the layer's name in reports). */
  name: string;
  opType: 'Conv' | 'Gemm' | 'MatMul';
  /** Activation input tensor. */
  input: string;
  weight: string;
  /** Output channel axis of the weight: Conv W[M,C/g,kh,kw] -> 0; Gemm B[N,K] (transB=1) -> 0, B[K,N] -> 1; MatMul B[K,N] -> 1. */
  weightAxis: number;
  bias?: string;
  /** The tensor whose range quantises the layer's output: the ReLU's output when a ReLU is folded in. */
  output: string;
  /** A ReLU consuming only this layer's output, folded into the output quantisation (uint8 with zero point 0 clips at 0). */
  relu?: string;
}

/**
 * Finds the layers to quantise. A ReLU that is the only reader of a layer's output (and that output is not
 * a graph output) is folded: quantising its output with min 0 makes the ReLU redundant, which is also what
 * ONNX Runtime's QDQ fusion does (QLinearConv has no activation of its own).
 */
export function findTargets(prep: PreparedModel): QuantTarget[] {
  const g: Graph = prep.model.graph;
  const inits = initializerMap(g);
  const consumers = consumerMap(g);
  const graphOutputs = new Set(g.output.map((o) => o.name));
  const out: QuantTarget[] = [];
  for (const n of g.node) {
    if (n.domain && n.domain !== 'ai.onnx') continue;
    const w = n.input[1] ? inits.get(n.input[1]) : undefined;
    if (!w || w.dataType !== 1) continue;
    const wRank = w.dims.length;
    let weightAxis: number;
    let bias: string | undefined;
    if (n.opType === 'Conv' && wRank >= 3) {
      weightAxis = 0;
      bias = n.input[2] || undefined;
    } else if (n.opType === 'Gemm' && wRank === 2 && attrInt(n, 'transA', 0) === 0 && prep.shapes.get(n.input[0]!)?.dims.length === 2) {
      weightAxis = attrInt(n, 'transB', 0) ? 0 : 1;
      const c = n.input[2] ? inits.get(n.input[2]) : undefined;
      // Only a per-output-channel bias [N] can become int32 with scale x_scale * w_scale[n].
      if (n.input[2] && !(c && c.dims.length === 1 && attrFloatIsOne(n, 'alpha') && attrFloatIsOne(n, 'beta'))) continue;
      bias = n.input[2] || undefined;
    } else if (n.opType === 'MatMul' && wRank === 2) {
      weightAxis = 1;
    } else continue;
    const y = n.output[0]!;
    const readers = consumers.get(y) ?? [];
    const relu = readers.length === 1 && readers[0]!.opType === 'Relu' && !graphOutputs.has(y) ? readers[0]! : undefined;
    out.push({
      name: n.name,
      opType: n.opType as QuantTarget['opType'],
      input: n.input[0]!,
      weight: n.input[1]!,
      weightAxis,
      bias,
      output: relu ? relu.output[0]! : y,
      relu: relu?.name,
    });
  }
  return out;
}

function attrFloatIsOne(n: NodeProto, name: string): boolean {
  const a = n.attribute.find((x) => x.name === name);
  return !a || a.f === 1;
}

/** The activation tensors that need a calibrated range for these layers. */
export function activationTensors(targets: QuantTarget[]): string[] {
  const set = new Set<string>();
  for (const t of targets) {
    set.add(t.input);
    set.add(t.output);
  }
  return [...set];
}

/** Where more QDQ pairs go so that ONNX Runtime runs the ops between quantised layers in int8 too. */
export interface FusePlan {
  /** Extra activation tensors to quantise, in graph order. */
  tensors: string[];
  /** Outputs of data-movement ops that must share their input's scale and zero point (ORT then drops their Q/DQ). */
  sameAs: Map<string, string>;
}

const UNARY = new Set(['Sigmoid', 'LeakyRelu', 'AveragePool', 'GlobalAveragePool']);
const BINARY = new Set(['Add', 'Mul']);
const PASS = new Set(['MaxPool', 'Resize', 'Reshape', 'Transpose', 'Flatten', 'Squeeze', 'Unsqueeze']);

/**
 * QDQ placement that ONNX Runtime fuses (its QDQ selectors, onnxruntime/core/optimizer/qdq_transformer/selectors_actions):
 * DQ -> Sigmoid -> Q becomes QLinearSigmoid, DQ,DQ -> Add|Mul -> Q QLinearAdd/QLinearMul (so SiLU = x * Sigmoid(x)
 * stays int8), DQ... -> Concat -> Q QLinearConcat, and MaxPool, Resize, Reshape, Transpose run directly on uint8 when
 * their input and output share one scale and zero point. Without these pairs every SiLU sends the tensor back to
 * float and ORT's NHWC int8 layout back to NCHW, which is what made SiLU/depthwise models slower in int8.
 * A node joins only when all its non-constant inputs are already quantised; graph outputs stay float.
 */
export function fusePlan(prep: PreparedModel, targets: QuantTarget[]): FusePlan {
  const g: Graph = prep.model.graph;
  const inits = initializerMap(g);
  const constants = new Set<string>([...inits.keys()]);
  for (const n of g.node) if (n.opType === 'Constant') for (const o of n.output) constants.add(o);
  const graphOutputs = new Set(g.output.map((o) => o.name));
  const quantised = new Set(activationTensors(targets));
  const tensors: string[] = [];
  const sameAs = new Map<string, string>();
  for (const n of g.node) {
    if (n.domain && n.domain !== 'ai.onnx') continue;
    const y = n.output[0];
    if (!y || graphOutputs.has(y) || quantised.has(y) || n.output.length !== 1) continue;
    const data = n.input.filter((x) => x && !constants.has(x));
    if (!data.length || !data.every((x) => quantised.has(x))) continue;
    let join = false;
    if (UNARY.has(n.opType) && data.length === 1) join = true;
    else if (BINARY.has(n.opType) && data.length === 2) join = true;
    else if (n.opType === 'Concat') join = true;
    else if (PASS.has(n.opType) && data.length === 1 && data[0] === n.input[0]) {
      join = true;
      sameAs.set(y, data[0]!);
    }
    if (!join) continue;
    quantised.add(y);
    tensors.push(y);
  }
  return { tensors, sameAs };
}
