import { AttrType, num, onnx, type Graph, type IAttributeProto, type Int64, type INodeProto, type ITensorProto, type NodeProto, type TensorProto } from './proto.js';

/** Small helpers for reading and editing a GraphProto in place. */

export function attr(node: INodeProto, name: string): IAttributeProto | undefined {
  return (node.attribute ?? []).find((a) => a.name === name);
}

export function attrInt(node: INodeProto, name: string, dflt: number): number {
  const a = attr(node, name);
  return a ? num(a.i as Int64) : dflt;
}

export function attrInts(node: INodeProto, name: string): number[] | undefined {
  const a = attr(node, name);
  return a ? (a.ints ?? []).map((v) => num(v as Int64)) : undefined;
}

export function attrFloat(node: INodeProto, name: string, dflt: number): number {
  const a = attr(node, name);
  return a ? (a.f ?? dflt) : dflt;
}

export function attrString(node: INodeProto, name: string, dflt: string): string {
  const a = attr(node, name);
  return a?.s && a.s.length ? Buffer.from(a.s).toString('utf8') : dflt;
}

export function attrTensor(node: INodeProto, name: string): ITensorProto | undefined {
  return attr(node, name)?.t ?? undefined;
}

export type AttrValue = number | number[] | string | TensorProto | { float: number } | { floats: number[] };

/** Builds an attribute; integers by default, `{float: x}` / `{floats: [...]}` for floats. */
export function makeAttr(name: string, v: AttrValue): IAttributeProto {
  if (typeof v === 'number') return { name, type: AttrType.INT, i: v };
  if (typeof v === 'string') return { name, type: AttrType.STRING, s: Buffer.from(v, 'utf8') };
  if (Array.isArray(v)) return { name, type: AttrType.INTS, ints: v };
  if ('float' in v) return { name, type: AttrType.FLOAT, f: v.float };
  if ('floats' in v) return { name, type: AttrType.FLOATS, floats: v.floats };
  return { name, type: AttrType.TENSOR, t: v };
}

export function makeNode(
  opType: string,
  inputs: string[],
  outputs: string[],
  name: string,
  attrs: Record<string, AttrValue> = {},
  domain = '',
): NodeProto {
  return onnx.NodeProto.create({
    opType,
    input: inputs,
    output: outputs,
    name,
    domain,
    attribute: Object.entries(attrs).map(([k, v]) => makeAttr(k, v)),
  });
}

export function setAttr(node: INodeProto, name: string, v: AttrValue): void {
  node.attribute = (node.attribute ?? []).filter((a) => a.name !== name);
  node.attribute.push(makeAttr(name, v));
}

export function removeAttr(node: INodeProto, name: string): void {
  node.attribute = (node.attribute ?? []).filter((a) => a.name !== name);
}

export function initializerMap(g: Graph): Map<string, TensorProto> {
  return new Map(g.initializer.map((t) => [t.name, t]));
}

/** Tensor name -> nodes that read it (a node reading a tensor twice is listed twice). */
export function consumerMap(g: Graph): Map<string, NodeProto[]> {
  const m = new Map<string, NodeProto[]>();
  for (const n of g.node) {
    for (const i of n.input) {
      if (!i) continue;
      const list = m.get(i) ?? [];
      list.push(n);
      m.set(i, list);
    }
  }
  return m;
}

export function producerMap(g: Graph): Map<string, NodeProto> {
  const m = new Map<string, NodeProto>();
  for (const n of g.node) for (const o of n.output) if (o) m.set(o, n);
  return m;
}

/**
 * Names of the real inputs: graph inputs that are not initializers (old exporters list every weight as an input
 * too, as UltraFace does).
 */
export function realInputs(g: Graph): string[] {
  const inits = new Set(g.initializer.map((t) => t.name));
  return g.input.map((i) => i.name).filter((n) => !inits.has(n));
}

/** Static dims of a graph input/output/value_info; -1 for a symbolic or missing dimension. */
export function valueInfoDims(g: Graph, name: string): number[] | undefined {
  const vi = [...g.input, ...g.output, ...g.valueInfo].find((v) => v.name === name);
  const shape = vi?.type?.tensorType?.shape;
  if (!shape) return undefined;
  return (shape.dim ?? []).map((d) => (d.dimParam || d.dimValue === null || d.dimValue === undefined ? -1 : num(d.dimValue as Int64) || -1));
}

export function elemTypeOf(g: Graph, name: string): number | undefined {
  const vi = [...g.input, ...g.output, ...g.valueInfo].find((v) => v.name === name);
  return vi?.type?.tensorType?.elemType ?? undefined;
}

/** A fresh tensor name not used in the graph, derived from `base`. */
export function uniqueNamer(g: Graph): (base: string) => string {
  const used = new Set<string>();
  for (const n of g.node) {
    for (const x of [...n.input, ...n.output]) used.add(x);
    used.add(n.name);
  }
  for (const t of g.initializer) used.add(t.name);
  for (const v of [...g.input, ...g.output, ...g.valueInfo]) used.add(v.name);
  return (base: string) => {
    let name = base;
    for (let i = 1; used.has(name); i++) name = `${base}_${i}`;
    used.add(name);
    return name;
  };
}

/** Sorts nodes so that every node comes after the producers of its inputs (Kahn). Throws on a cycle. */
export function topoSort(g: Graph): void {
  const produced = producerMap(g);
  const done = new Set<NodeProto>();
  const out: NodeProto[] = [];
  const visiting = new Set<NodeProto>();
  const visit = (n: NodeProto): void => {
    if (done.has(n)) return;
    if (visiting.has(n)) throw new Error(`graph has a cycle at node ${n.name}`);
    visiting.add(n);
    for (const i of n.input) {
      const p = i ? produced.get(i) : undefined;
      if (p) visit(p);
    }
    visiting.delete(n);
    done.add(n);
    out.push(n);
  };
  for (const n of g.node) visit(n);
  g.node = out;
}
