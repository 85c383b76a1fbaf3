import { AgentError } from '../../agent/errors.js';
import { attr, attrInt, attrInts, attrString, attrTensor, realInputs } from './graph.js';
import { DataType, num, type Graph, type Int64, type Model, type NodeProto } from './proto.js';
import { dimsOf, sizeOf, toNumbers } from './tensor.js';

/**
 * Static shape inference for the operators common in detection models, with constant propagation of small
 * tensors so that shape-computing chains (Shape -> Gather -> Unsqueeze -> Concat -> Reshape, as older PyTorch
 * exporters write them) resolve to numbers. Semantics follow the ONNX operator docs (docs/Operators.md) for
 * opsets 9-17; where an input moved into an attribute or back across versions (Slice, Unsqueeze, Split, Pad,
 * Clip, Resize), both forms are read.
 */

export interface TensorShape {
  dims: number[];
  /** ONNX element type (TensorProto.DataType). */
  elemType: number;
  /** Values of small constant tensors (shapes, indices, scalars), when known. */
  value?: number[];
}

const SMALL = 64;

function fail(node: NodeProto, why: string): never {
  throw new AgentError('MODEL_INVALID', `cannot infer shapes at node ${node.name || node.output[0]} (${node.opType}): ${why}`, {
    fix: 'the model needs static input shapes and operators this tool knows; re-export it with fixed input sizes',
  });
}

export function broadcast(a: number[], b: number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    out.push(x === 1 ? y : y === 1 ? x : Math.max(x, y));
  }
  return out;
}

const normAxis = (a: number, rank: number): number => (a < 0 ? a + rank : a);

const unary = new Set([
  'Relu', 'LeakyRelu', 'Sigmoid', 'Tanh', 'Exp', 'Log', 'Sqrt', 'Neg', 'Abs', 'Erf', 'Clip', 'Identity', 'Dropout',
  'Softmax', 'LogSoftmax', 'HardSigmoid', 'HardSwish', 'Elu', 'Selu', 'Softplus', 'Floor', 'Ceil', 'Round', 'Not',
  'Reciprocal', 'BatchNormalization', 'InstanceNormalization', 'LpNormalization', 'QuantizeLinear', 'DequantizeLinear',
  'Mish', 'Gelu', 'Sign', 'LayerNormalization', 'Cast', 'CastLike',
]);
const binary = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Mean', 'Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or', 'PRelu', 'Where', 'Mod']);
const boolOut = new Set(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or', 'Not']);

function convOut(node: NodeProto, x: number[], w: number[], transposed: boolean): number[] {
  const spatial = x.length - 2;
  const kernel = attrInts(node, 'kernel_shape') ?? w.slice(2);
  const strides = attrInts(node, 'strides') ?? new Array(spatial).fill(1);
  const dil = attrInts(node, 'dilations') ?? new Array(spatial).fill(1);
  let pads = attrInts(node, 'pads') ?? new Array(spatial * 2).fill(0);
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  const out: number[] = [];
  for (let i = 0; i < spatial; i++) {
    const inp = x[i + 2]!;
    const k = (kernel[i]! - 1) * dil[i]! + 1;
    if (transposed) {
      const outPad = attrInts(node, 'output_padding')?.[i] ?? 0;
      const explicit = attrInts(node, 'output_shape');
      out.push(explicit ? explicit[i]! : strides[i]! * (inp - 1) + outPad + k - pads[i]! - pads[i + spatial]!);
      continue;
    }
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') out.push(Math.ceil(inp / strides[i]!));
    else {
      if (autoPad === 'VALID') pads = new Array(spatial * 2).fill(0);
      const ceil = attrInt(node, 'ceil_mode', 0) === 1;
      const span = inp + pads[i]! + pads[i + spatial]! - k;
      out.push((ceil ? Math.ceil(span / strides[i]!) : Math.floor(span / strides[i]!)) + 1);
    }
  }
  return out;
}

/** Infers the shape of every tensor in a model with static input shapes. */
export function inferShapes(model: Model): Map<string, TensorShape> {
  const g: Graph = model.graph;
  const shapes = new Map<string, TensorShape>();
  for (const t of g.initializer) {
    const dims = dimsOf(t);
    const s: TensorShape = { dims, elemType: t.dataType };
    if (sizeOf(dims) <= SMALL && t.dataType !== DataType.STRING) s.value = toNumbers(t);
    shapes.set(t.name, s);
  }
  for (const name of realInputs(g)) {
    const vi = g.input.find((v) => v.name === name)!;
    const tt = vi.type?.tensorType;
    const dims = (tt?.shape?.dim ?? []).map((d) => (d.dimParam ? -1 : num(d.dimValue as Int64) || -1));
    if (!tt?.shape || dims.some((d) => d < 1)) {
      throw new AgentError('MODEL_INVALID', `input "${name}" has a dynamic shape [${dims.map((d) => (d < 1 ? '?' : d)).join(',')}]`, {
        fix: 'export the model with a fixed input size (batch 1, fixed height and width)',
      });
    }
    shapes.set(name, { dims, elemType: tt.elemType ?? DataType.FLOAT });
  }
  for (const node of g.node) {
    const ins = node.input.map((i) => (i ? shapes.get(i) : undefined));
    for (let k = 0; k < ins.length; k++) {
      if (node.input[k] && !ins[k]) fail(node, `input ${node.input[k]} is unknown (graph not topologically sorted?)`);
    }
    const outs = inferNode(node, ins);
    outs.forEach((s, k) => {
      if (node.output[k]) shapes.set(node.output[k]!, s);
    });
  }
  return shapes;
}

function need(node: NodeProto, s: TensorShape | undefined, what: string): TensorShape {
  if (!s) fail(node, `missing ${what}`);
  return s;
}

function constValue(node: NodeProto, s: TensorShape | undefined, what: string): number[] {
  if (!s?.value) fail(node, `${what} is not a constant (dynamic shape)`);
  return s.value;
}

function withValue(dims: number[], elemType: number, value: number[] | undefined): TensorShape {
  return value && value.length <= SMALL ? { dims, elemType, value } : { dims, elemType };
}

function elementwise(op: string, a: number[], b: number[], outLen: number): number[] | undefined {
  const f: Record<string, (x: number, y: number) => number> = {
    Add: (x, y) => x + y, Sub: (x, y) => x - y, Mul: (x, y) => x * y, Div: (x, y) => x / y,
    Max: Math.max, Min: Math.min, Pow: Math.pow, Equal: (x, y) => +(x === y), Less: (x, y) => +(x < y), Greater: (x, y) => +(x > y),
  };
  const fn = f[op];
  if (!fn) return undefined;
  const out: number[] = [];
  for (let i = 0; i < outLen; i++) out.push(fn(a[a.length === 1 ? 0 : i]!, b[b.length === 1 ? 0 : i]!));
  return out;
}

function inferNode(node: NodeProto, ins: Array<TensorShape | undefined>): TensorShape[] {
  const op = node.opType;
  const x = ins[0];
  if (node.domain && node.domain !== 'ai.onnx') fail(node, `operator domain "${node.domain}" is not supported`);
  if (unary.has(op)) {
    const s = need(node, x, 'input');
    let elemType = s.elemType;
    if (op === 'Cast') elemType = attrInt(node, 'to', elemType);
    if (op === 'CastLike') elemType = need(node, ins[1], 'target').elemType;
    if (op === 'QuantizeLinear') elemType = ins[2]?.elemType ?? DataType.UINT8;
    if (op === 'DequantizeLinear') elemType = DataType.FLOAT;
    if (boolOut.has(op)) elemType = DataType.BOOL;
    const value = op === 'Cast' || op === 'Identity' ? s.value : undefined;
    const outs = [withValue(s.dims, elemType, value)];
    return outs;
  }
  if (binary.has(op)) {
    const present = ins.filter((s): s is TensorShape => !!s);
    const dims = present.map((s) => s.dims).reduce(broadcast);
    const elemType = boolOut.has(op) ? DataType.BOOL : op === 'Where' ? present[1]!.elemType : present[0]!.elemType;
    let value: number[] | undefined;
    if (present.length === 2 && present[0]!.value && present[1]!.value) value = elementwise(op, present[0]!.value, present[1]!.value, sizeOf(dims));
    return [withValue(dims, elemType, value)];
  }
  switch (op) {
    case 'Constant': {
      const t = attrTensor(node, 'value');
      if (t) return [withValue(dimsOf(t), t.dataType ?? DataType.FLOAT, sizeOf(dimsOf(t)) <= SMALL ? toNumbers(t) : undefined)];
      const ints = attrInts(node, 'value_ints');
      if (ints) return [{ dims: [ints.length], elemType: DataType.INT64, value: ints }];
      const vi = attr(node, 'value_int');
      if (vi) return [{ dims: [], elemType: DataType.INT64, value: [num(vi.i as Int64)] }];
      const vf = attr(node, 'value_float');
      if (vf) return [{ dims: [], elemType: DataType.FLOAT, value: [vf.f ?? 0] }];
      return fail(node, 'unsupported Constant form');
    }
    case 'Conv':
    case 'ConvTranspose': {
      const s = need(node, x, 'input');
      const w = need(node, ins[1], 'weight');
      const group = attrInt(node, 'group', 1);
      const cout = op === 'Conv' ? w.dims[0]! : w.dims[1]! * group;
      return [{ dims: [s.dims[0]!, cout, ...convOut(node, s.dims, w.dims, op === 'ConvTranspose')], elemType: s.elemType }];
    }
    case 'MaxPool':
    case 'AveragePool':
    case 'LpPool': {
      const s = need(node, x, 'input');
      const k = attrInts(node, 'kernel_shape') ?? fail(node, 'no kernel_shape');
      const outs = [{ dims: [s.dims[0]!, s.dims[1]!, ...convOut(node, s.dims, [0, 0, ...k], false)], elemType: s.elemType }];
      if (node.output.length > 1) outs.push({ dims: outs[0]!.dims, elemType: DataType.INT64 });
      return outs;
    }
    case 'GlobalAveragePool':
    case 'GlobalMaxPool': {
      const s = need(node, x, 'input');
      return [{ dims: [...s.dims.slice(0, 2), ...s.dims.slice(2).map(() => 1)], elemType: s.elemType }];
    }
    case 'Gemm': {
      const a = need(node, x, 'A').dims;
      const b = need(node, ins[1], 'B').dims;
      const m = attrInt(node, 'transA', 0) ? a[1]! : a[0]!;
      const n = attrInt(node, 'transB', 0) ? b[0]! : b[1]!;
      return [{ dims: [m, n], elemType: x!.elemType }];
    }
    case 'MatMul': {
      const a = need(node, x, 'A').dims;
      const b = need(node, ins[1], 'B').dims;
      const a2 = a.length === 1 ? [1, a[0]!] : a;
      const b2 = b.length === 1 ? [b[0]!, 1] : b;
      const batch = broadcast(a2.slice(0, -2), b2.slice(0, -2));
      const dims = [...batch, ...(a.length === 1 ? [] : [a2[a2.length - 2]!]), ...(b.length === 1 ? [] : [b2[b2.length - 1]!])];
      return [{ dims, elemType: x!.elemType }];
    }
    case 'Shape': {
      const s = need(node, x, 'input');
      const start = normAxis(attrInt(node, 'start', 0), s.dims.length);
      const endA = attr(node, 'end') ? normAxis(attrInt(node, 'end', 0), s.dims.length) : s.dims.length;
      const v = s.dims.slice(start, endA);
      return [{ dims: [v.length], elemType: DataType.INT64, value: v }];
    }
    case 'Size':
      return [{ dims: [], elemType: DataType.INT64, value: [sizeOf(need(node, x, 'input').dims)] }];
    case 'Reshape': {
      const s = need(node, x, 'input');
      const target = ins[1] ? constValue(node, ins[1], 'shape') : (attrInts(node, 'shape') ?? fail(node, 'no shape'));
      const total = sizeOf(s.dims);
      const dims = target.map((d, i) => (d === 0 && attrInt(node, 'allowzero', 0) === 0 ? s.dims[i]! : d));
      const known = dims.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
      return [withValue(dims.map((d) => (d === -1 ? total / known : d)), s.elemType, s.value)];
    }
    case 'Flatten': {
      const s = need(node, x, 'input');
      const ax = normAxis(attrInt(node, 'axis', 1), s.dims.length);
      return [{ dims: [sizeOf(s.dims.slice(0, ax)), sizeOf(s.dims.slice(ax))], elemType: s.elemType }];
    }
    case 'Transpose': {
      const s = need(node, x, 'input');
      const perm = attrInts(node, 'perm') ?? s.dims.map((_, i) => s.dims.length - 1 - i);
      return [{ dims: perm.map((p) => s.dims[p]!), elemType: s.elemType }];
    }
    case 'Squeeze':
    case 'Unsqueeze': {
      const s = need(node, x, 'input');
      const axes = ins[1] ? constValue(node, ins[1], 'axes') : attrInts(node, 'axes');
      if (op === 'Squeeze') {
        const ax = (axes ?? s.dims.flatMap((d, i) => (d === 1 ? [i] : []))).map((a) => normAxis(a, s.dims.length));
        return [withValue(s.dims.filter((_, i) => !ax.includes(i)), s.elemType, s.value)];
      }
      if (!axes) return fail(node, 'no axes');
      const rank = s.dims.length + axes.length;
      const ax = axes.map((a) => normAxis(a, rank));
      const dims: number[] = [];
      let j = 0;
      for (let i = 0; i < rank; i++) dims.push(ax.includes(i) ? 1 : s.dims[j++]!);
      return [withValue(dims, s.elemType, s.value)];
    }
    case 'Concat': {
      const present = ins.filter((s): s is TensorShape => !!s);
      const rank = present[0]!.dims.length;
      const ax = normAxis(attrInt(node, 'axis', 0), rank);
      const dims = [...present[0]!.dims];
      dims[ax] = present.reduce((a, s) => a + s.dims[ax]!, 0);
      const value = present.every((s) => s.value) && rank === 1 ? present.flatMap((s) => s.value!) : undefined;
      return [withValue(dims, present[0]!.elemType, value)];
    }
    case 'Split': {
      const s = need(node, x, 'input');
      const ax = normAxis(attrInt(node, 'axis', 0), s.dims.length);
      const n = node.output.length;
      const sizes = ins[1] ? constValue(node, ins[1], 'split') : (attrInts(node, 'split') ?? new Array(n).fill(Math.ceil(s.dims[ax]! / n)));
      return sizes.map((sz) => ({ dims: s.dims.map((d, i) => (i === ax ? sz : d)), elemType: s.elemType }));
    }
    case 'Slice': {
      const s = need(node, x, 'input');
      const starts = ins[1] ? constValue(node, ins[1], 'starts') : (attrInts(node, 'starts') ?? []);
      const ends = ins[2] ? constValue(node, ins[2], 'ends') : (attrInts(node, 'ends') ?? []);
      const axes = ins[3] ? constValue(node, ins[3], 'axes') : (attrInts(node, 'axes') ?? starts.map((_, i) => i));
      const steps = ins[4] ? constValue(node, ins[4], 'steps') : starts.map(() => 1);
      const dims = [...s.dims];
      let value = s.value;
      axes.forEach((a0, k) => {
        const a = normAxis(a0, dims.length);
        const d = s.dims[a]!;
        const step = steps[k]!;
        const clampIdx = (v: number, lo: number, hi: number): number => Math.min(Math.max(v < 0 ? v + d : v, lo), hi);
        const st = step > 0 ? clampIdx(starts[k]!, 0, d) : clampIdx(starts[k]!, -1, d - 1);
        const en = step > 0 ? clampIdx(ends[k]!, 0, d) : clampIdx(ends[k]!, -1, d - 1);
        dims[a] = Math.max(0, Math.ceil((en - st) / step));
        if (value && s.dims.length === 1) {
          const v: number[] = [];
          for (let i = st; step > 0 ? i < en : i > en; i += step) v.push(value[i]!);
          value = v;
        } else value = undefined;
      });
      return [withValue(dims, s.elemType, value)];
    }
    case 'Gather': {
      const s = need(node, x, 'input');
      const idx = need(node, ins[1], 'indices');
      const ax = normAxis(attrInt(node, 'axis', 0), s.dims.length);
      const dims = [...s.dims.slice(0, ax), ...idx.dims, ...s.dims.slice(ax + 1)];
      let value: number[] | undefined;
      if (s.value && idx.value && s.dims.length === 1) value = idx.value.map((i) => s.value![i < 0 ? i + s.dims[0]! : i]!);
      return [withValue(dims, s.elemType, value)];
    }
    case 'ConstantOfShape': {
      const dims = constValue(node, x, 'shape');
      const t = attrTensor(node, 'value');
      const fillV = t ? toNumbers(t)[0]! : 0;
      return [withValue(dims, t?.dataType ?? DataType.FLOAT, sizeOf(dims) <= SMALL ? new Array(sizeOf(dims)).fill(fillV) : undefined)];
    }
    case 'Expand': {
      const s = need(node, x, 'input');
      return [{ dims: broadcast(s.dims, constValue(node, ins[1], 'shape')), elemType: s.elemType }];
    }
    case 'Tile': {
      const s = need(node, x, 'input');
      const reps = constValue(node, ins[1], 'repeats');
      return [{ dims: s.dims.map((d, i) => d * reps[i]!), elemType: s.elemType }];
    }
    case 'Pad': {
      const s = need(node, x, 'input');
      const pads = ins[1] ? constValue(node, ins[1], 'pads') : (attrInts(node, 'pads') ?? fail(node, 'no pads'));
      const r = s.dims.length;
      return [{ dims: s.dims.map((d, i) => d + pads[i]! + pads[i + r]!), elemType: s.elemType }];
    }
    case 'Resize':
    case 'Upsample': {
      const s = need(node, x, 'input');
      const sizesIn = op === 'Resize' ? ins[3] : undefined;
      if (sizesIn && sizeOf(sizesIn.dims) > 0) return [{ dims: constValue(node, sizesIn, 'sizes'), elemType: s.elemType }];
      const scalesIn = op === 'Resize' ? (ins.length >= 3 ? ins[2] : ins[1]) : ins[1];
      const scales = scalesIn && sizeOf(scalesIn.dims) > 0 ? constValue(node, scalesIn, 'scales') : (attr(node, 'scales')?.floats ?? fail(node, 'no scales'));
      return [{ dims: s.dims.map((d, i) => Math.floor(d * scales[i]!)), elemType: s.elemType }];
    }
    case 'ReduceMean':
    case 'ReduceSum':
    case 'ReduceMax':
    case 'ReduceMin':
    case 'ReduceProd':
    case 'ReduceL2':
    case 'ArgMax':
    case 'ArgMin': {
      const s = need(node, x, 'input');
      const keep = attrInt(node, 'keepdims', 1) === 1;
      const axes0 = op.startsWith('Arg') ? [attrInt(node, 'axis', 0)] : ins[1] ? constValue(node, ins[1], 'axes') : attrInts(node, 'axes');
      const axes = (axes0 ?? s.dims.map((_, i) => i)).map((a) => normAxis(a, s.dims.length));
      const dims = s.dims.flatMap((d, i) => (axes.includes(i) ? (keep ? [1] : []) : [d]));
      return [{ dims, elemType: op.startsWith('Arg') ? DataType.INT64 : s.elemType }];
    }
    case 'TopK': {
      const s = need(node, x, 'input');
      const k = ins[1] ? constValue(node, ins[1], 'K')[0]! : attrInt(node, 'k', 1);
      const ax = normAxis(attrInt(node, 'axis', -1), s.dims.length);
      const dims = s.dims.map((d, i) => (i === ax ? k : d));
      return [{ dims, elemType: s.elemType }, { dims, elemType: DataType.INT64 }];
    }
    case 'Range': {
      const [st, lim, dl] = [0, 1, 2].map((i) => constValue(node, ins[i], 'range input')[0]!);
      const n = Math.max(Math.ceil((lim! - st!) / dl!), 0);
      const v = Array.from({ length: n }, (_, i) => st! + i * dl!);
      return [withValue([n], x!.elemType, v)];
    }
    case 'DepthToSpace':
    case 'SpaceToDepth': {
      const s = need(node, x, 'input');
      const b = attrInt(node, 'blocksize', 1);
      const [n, c, h, w] = s.dims as [number, number, number, number];
      return [{ dims: op === 'DepthToSpace' ? [n, c / (b * b), h * b, w * b] : [n, c * b * b, h / b, w / b], elemType: s.elemType }];
    }
    default:
      return fail(node, `operator ${op} is not supported by the shape inference`);
  }
}
