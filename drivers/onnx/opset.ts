import { AgentError } from '../../agent/errors.js';
import { attr, attrInt, attrInts, attrString, removeAttr, uniqueNamer } from './graph.js';
import { defaultOpset, num, setDefaultOpset, type Int64, type Model, type NodeProto } from './proto.js';
import { inferShapes } from './shapes.js';
import { makeFloatTensor, makeInt64Tensor } from './tensor.js';

/**
 * Raises a model's default-domain opset (to 13 for per-channel QuantizeLinear/DequantizeLinear, whose `axis`
 * attribute exists from opset 13). Only operators whose signature changed between the model's opset and the
 * target are rewritten; the changes come from the ONNX operator changelog (docs/Changelog.md):
 * Slice-10 (starts/ends/axes become inputs), Clip-11 and Pad-11 (attributes become inputs), TopK-10 (k input),
 * Unsqueeze/Squeeze/Split/ReduceSum-13 (axes/split become inputs), Softmax/LogSoftmax/Hardmax-13 (no longer
 * coerce to 2-D: equivalent when the axis is the last one), Resize-11 (roi input added). Anything else that
 * changed meaning (Upsample, Scatter) is refused with a clear message.
 */
export function upgradeOpset(model: Model, target = 13): void {
  const from = defaultOpset(model);
  if (from >= target) return;
  if (from < 7) {
    throw new AgentError('MODEL_INVALID', `model uses opset ${from}, older than 7`, { fix: 're-export the model with opset 13 or newer' });
  }
  const g = model.graph;
  const name = uniqueNamer(g);
  const shapes = inferShapes(model);
  const addInts = (base: string, values: number[]): string => {
    const n = name(base);
    g.initializer.push(makeInt64Tensor(n, [values.length], values));
    return n;
  };
  const addScalar = (base: string, v: number): string => {
    const n = name(base);
    g.initializer.push(makeFloatTensor(n, [], Float32Array.of(v)));
    return n;
  };
  const refuse = (node: NodeProto, why: string): never => {
    throw new AgentError('MODEL_INVALID', `cannot move node ${node.name || node.output[0]} (${node.opType}) from opset ${from} to ${target}: ${why}`, {
      fix: `re-export the model with opset ${target} or newer`,
    });
  };
  for (const node of g.node) {
    if (node.domain && node.domain !== 'ai.onnx') continue;
    const rank = (i: number): number => shapes.get(node.input[i]!)?.dims.length ?? -1;
    switch (node.opType) {
      case 'Slice':
        if (from < 10) {
          const starts = attrInts(node, 'starts') ?? [];
          const inputs = [node.input[0]!, addInts('slice_starts', starts), addInts('slice_ends', attrInts(node, 'ends') ?? [])];
          const axes = attrInts(node, 'axes');
          if (axes) inputs.push(addInts('slice_axes', axes));
          node.input = inputs;
          for (const a of ['starts', 'ends', 'axes']) removeAttr(node, a);
        }
        break;
      case 'Unsqueeze':
      case 'Squeeze':
      case 'ReduceSum':
        if (from < 13) {
          const axes = attrInts(node, 'axes');
          if (axes) node.input = [node.input[0]!, addInts(`${node.opType.toLowerCase()}_axes`, axes)];
          removeAttr(node, 'axes');
        }
        break;
      case 'Split':
        if (from < 13) {
          const split = attrInts(node, 'split');
          if (split) node.input = [node.input[0]!, addInts('split_sizes', split)];
          removeAttr(node, 'split');
        }
        break;
      case 'Softmax':
      case 'LogSoftmax':
      case 'Hardmax':
        if (from < 13) {
          const r = rank(0);
          const axis = attrInt(node, 'axis', 1);
          if (!(axis === r - 1 || axis === -1)) refuse(node, `axis ${axis} is not the last of ${r} dimensions (semantics changed in opset 13)`);
        }
        break;
      case 'Clip':
        if (from < 11) {
          const lo = attr(node, 'min') ? attr(node, 'min')!.f ?? -3.4028234663852886e38 : -3.4028234663852886e38;
          const hi = attr(node, 'max') ? attr(node, 'max')!.f ?? 3.4028234663852886e38 : 3.4028234663852886e38;
          node.input = [node.input[0]!, addScalar('clip_min', lo), addScalar('clip_max', hi)];
          removeAttr(node, 'min');
          removeAttr(node, 'max');
        }
        break;
      case 'Pad':
        if (from < 11) {
          const pads = attrInts(node, 'pads') ?? [];
          const value = attr(node, 'value')?.f ?? 0;
          node.input = [node.input[0]!, addInts('pad_pads', pads), addScalar('pad_value', value)];
          removeAttr(node, 'pads');
          removeAttr(node, 'value');
        }
        break;
      case 'TopK':
        if (from < 10) {
          node.input = [node.input[0]!, addInts('topk_k', [attrInt(node, 'k', 1)])];
          removeAttr(node, 'k');
        }
        break;
      case 'Resize':
        if (from < 11) {
          // Resize-10 is (X, scales) with asymmetric coordinates; Resize-11 adds roi and other modes.
          node.input = [node.input[0]!, '', node.input[1]!];
          node.attribute.push({ name: 'coordinate_transformation_mode', type: 3, s: Buffer.from('asymmetric') });
          if (attrString(node, 'mode', 'nearest') === 'nearest') node.attribute.push({ name: 'nearest_mode', type: 3, s: Buffer.from('floor') });
        }
        break;
      case 'Upsample':
      case 'Scatter':
        refuse(node, `${node.opType} is deprecated`);
        break;
      default:
        break;
    }
  }
  setDefaultOpset(model, target);
  if (num(model.irVersion as Int64) < 7) model.irVersion = 7; // opset 13 needs IR version 7
}
