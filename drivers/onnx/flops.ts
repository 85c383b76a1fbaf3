import { readModel, type Model, type NodeProto } from './proto.js';
import { attrInt, attrInts } from './graph.js';
import { inferShapes, type TensorShape } from './shapes.js';
import { sizeOf } from './tensor.js';

/**
 * Counts floating-point operations of one inference of a static-shape model: 2 x multiply-accumulates for
 * Conv (grouped and depthwise included), ConvTranspose, Gemm and MatMul, plus bias additions; pooling counts one
 * operation per window element; other arithmetic counts one per output element (a few per element for the
 * transcendental ones); data movement (Reshape, Transpose, Concat, Slice, Gather...) counts zero.
 */

export interface NodeFlops {
  name: string;
  opType: string;
  flops: number;
  /** Multiply-accumulates (Conv/Gemm/MatMul only). */
  macs: number;
  outputShape: number[];
}

export interface FlopsReport {
  total: number;
  /** Sum of MACs of Conv/ConvTranspose/Gemm/MatMul. */
  macs: number;
  perNode: NodeFlops[];
}

const free = new Set([
  'Reshape', 'Flatten', 'Transpose', 'Concat', 'Split', 'Slice', 'Squeeze', 'Unsqueeze', 'Gather', 'Shape', 'Size',
  'Constant', 'ConstantOfShape', 'Identity', 'Dropout', 'Expand', 'Tile', 'Pad', 'Cast', 'CastLike', 'DepthToSpace',
  'SpaceToDepth', 'Range',
]);
/** Rough operation counts per element for activations that are not a single add or multiply. */
const perElement: Record<string, number> = {
  Sigmoid: 4, Tanh: 4, Exp: 1, Softmax: 3, LogSoftmax: 4, HardSwish: 3, HardSigmoid: 2, Gelu: 8, Mish: 6, Erf: 4,
  BatchNormalization: 2, InstanceNormalization: 4, LayerNormalization: 5, LeakyRelu: 1, Relu: 1, Clip: 1,
  QuantizeLinear: 2, DequantizeLinear: 2,
};

export function countFlops(modelOrFile: Model | string): FlopsReport {
  const model = typeof modelOrFile === 'string' ? readModel(modelOrFile) : modelOrFile;
  const shapes = inferShapes(model);
  const perNode = model.graph.node.map((n) => nodeFlops(n, shapes));
  return {
    total: perNode.reduce((a, n) => a + n.flops, 0),
    macs: perNode.reduce((a, n) => a + n.macs, 0),
    perNode,
  };
}

function nodeFlops(node: NodeProto, shapes: Map<string, TensorShape>): NodeFlops {
  const dimsOfT = (i: number, out = false): number[] => {
    const name = out ? node.output[i] : node.input[i];
    return (name ? shapes.get(name)?.dims : undefined) ?? [];
  };
  const outShape = dimsOfT(0, true);
  const outElems = sizeOf(outShape);
  const hasBias = node.input.length > 2 && !!node.input[2];
  let macs = 0;
  let extra = 0;
  switch (node.opType) {
    case 'Conv': {
      const w = dimsOfT(1); // [M, C/group, k...]
      macs = outElems * sizeOf(w.slice(1));
      if (hasBias) extra = outElems;
      break;
    }
    case 'ConvTranspose': {
      const x = dimsOfT(0);
      const w = dimsOfT(1); // [C, M/group, k...]
      macs = sizeOf(x) * sizeOf(w.slice(1));
      if (hasBias) extra = outElems;
      break;
    }
    case 'Gemm': {
      const a = dimsOfT(0);
      const k = attrInt(node, 'transA', 0) ? a[0]! : a[1]!;
      macs = outElems * k;
      if (hasBias) extra = outElems;
      break;
    }
    case 'MatMul': {
      const a = dimsOfT(0);
      macs = outElems * a[a.length - 1]!;
      break;
    }
    case 'MaxPool':
    case 'AveragePool':
    case 'LpPool':
      extra = outElems * sizeOf(attrInts(node, 'kernel_shape') ?? [1]);
      break;
    case 'GlobalAveragePool':
    case 'GlobalMaxPool':
    case 'ReduceMean':
    case 'ReduceSum':
    case 'ReduceMax':
    case 'ReduceMin':
      extra = sizeOf(dimsOfT(0));
      break;
    case 'Resize':
    case 'Upsample':
      extra = outElems * 4; // bilinear: about 4 multiply-adds per output; nearest would be 0
      break;
    default:
      extra = free.has(node.opType) ? 0 : outElems * (perElement[node.opType] ?? 1);
  }
  return { name: node.name || node.output[0] || '', opType: node.opType, flops: 2 * macs + extra, macs, outputShape: outShape };
}
