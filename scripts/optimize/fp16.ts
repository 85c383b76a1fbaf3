import {
  attrTensor,
  DataType,
  decodeModel,
  dimsOf,
  encodeModel,
  makeFloat16Tensor,
  makeNode,
  toFloat32,
  topoSort,
  uniqueNamer,
  num,
  type Int64,
  type IValueInfoProto,
  type Model,
} from '../../drivers/onnx/index.js';

/**
 * Inputs that must stay float32 whatever the model's precision (their type constraint in the ONNX operator
 * docs is tensor(float) only): Resize `scales` (input 2), Upsample `scales` (input 1).
 */
const floatOnly: Record<string, number[]> = { Resize: [2], Upsample: [1] };

/**
 * A float16 copy of a float32 model for GPU targets (TensorRT/CUDA run fp16 at about twice the fp32 rate):
 * float initializers and Constant nodes become float16, Cast-to-float becomes Cast-to-float16, and the graph keeps
 * float32 inputs and outputs (Cast nodes at both ends, like onnxconverter-common's keep_io_types), so the agent
 * feeds it the same tensors. On a CPU without fp16 kernels ONNX Runtime inserts casts around each node: it loads
 * and computes correctly, only not faster.
 */
export function toFloat16(src: Model): Model {
  const model = decodeModel(encodeModel(src));
  const g = model.graph;
  const name = uniqueNamer(g);
  const keepFloat = new Set<string>();
  for (const n of g.node) for (const i of floatOnly[n.opType] ?? []) if (n.input[i]) keepFloat.add(n.input[i]!);
  g.initializer = g.initializer.map((t) => (t.dataType === DataType.FLOAT && !keepFloat.has(t.name) ? makeFloat16Tensor(t.name, dimsOf(t), toFloat32(t)) : t));
  for (const n of g.node) {
    if (n.opType === 'Constant') {
      const t = attrTensor(n, 'value');
      if (t && t.dataType === DataType.FLOAT && !n.output.some((o) => keepFloat.has(o))) {
        const a = n.attribute.find((x) => x.name === 'value')!;
        a.t = makeFloat16Tensor(t.name ?? '', dimsOf(t), toFloat32(t));
      }
    }
    if (n.opType === 'Cast') {
      const to = n.attribute.find((x) => x.name === 'to');
      if (to && num(to.i as Int64) === DataType.FLOAT && !n.output.some((o) => keepFloat.has(o))) to.i = DataType.FLOAT16;
    }
    if (n.opType === 'ConstantOfShape') {
      const a = n.attribute.find((x) => x.name === 'value');
      if (a?.t && a.t.dataType === DataType.FLOAT) a.t = makeFloat16Tensor(a.t.name ?? '', dimsOf(a.t), toFloat32(a.t));
    }
  }
  const isFloat = (vi: IValueInfoProto): boolean => vi.type?.tensorType?.elemType === DataType.FLOAT;
  const casts = [];
  for (const vi of g.input) {
    if (!isFloat(vi)) continue;
    const half = name(`${vi.name}_fp16`);
    for (const n of g.node) for (let i = 0; i < n.input.length; i++) if (n.input[i] === vi.name) n.input[i] = half;
    casts.push(makeNode('Cast', [vi.name!], [half], name(`${vi.name}_to_fp16`), { to: DataType.FLOAT16 }));
  }
  for (const vi of g.output) {
    if (!isFloat(vi)) continue;
    const half = name(`${vi.name}_fp16`);
    for (const n of g.node) for (let i = 0; i < n.output.length; i++) if (n.output[i] === vi.name) n.output[i] = half;
    casts.push(makeNode('Cast', [half], [vi.name!], name(`${vi.name}_to_fp32`), { to: DataType.FLOAT }));
  }
  g.node.push(...casts);
  g.valueInfo = []; // intermediate types changed; ONNX Runtime infers them again
  topoSort(g);
  return model;
}
