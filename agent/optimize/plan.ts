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
