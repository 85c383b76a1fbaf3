import type { KernelRun } from '../../drivers/onnx/profile.js';

/**
 * Which kernels ONNX Runtime really ran for a QDQ model. A QuantizeLinear/DequantizeLinear pair around a Conv is
 * only a promise: ORT's QDQ transformers replace the group with QLinearConv (or ConvInteger, QLinearMatMul, QGemm,
 * QLinearSigmoid...) when the pattern and types fit; when they do not, the float Conv runs with the Q/DQ nodes
 * executed around it, which is slower than plain float. The profile of a few runs shows which happened.
 */
export interface KernelRow {
  /** The ONNX operator (Conv, MatMul, Gemm, Concat, Sigmoid, MaxPool...). */
  op: string;
  /** Layers of this type the candidate quantises (Conv/Gemm/MatMul only). */
  planned: number;
  /** Nodes that ran as quantised kernels, and which. */
  quantised: number;
  quantisedKernels: string[];
  /** Nodes that ran as float kernels (layers left float on purpose included). */
  float: number;
}

export interface KernelReport {
  rows: KernelRow[];
  /** QuantizeLinear and DequantizeLinear nodes executed per run. */
  quantizeLinear: number;
  dequantizeLinear: number;
  /** Quantised Conv/Gemm/MatMul layers planned, those that ran as int8 kernels, those that ran as float + Q/DQ. */
  planned: number;
  ranQuantised: number;
  ranFloatWithQdq: number;
  /** More than half of the planned layers ran as float kernels with Q/DQ around them. */
  mostlyFloat: boolean;
  providers: string[];
  summary: string;
}

const LAYER_OPS = new Set(['Conv', 'Gemm', 'MatMul']);
const INT_TYPES = new Set(['uint8', 'int8', 'int32']);
/** Kernels that only move data: running them on uint8 is no evidence of an int8 computation. */
const DATA_MOVEMENT = new Set(['Transpose', 'Reshape', 'Split', 'Slice', 'Squeeze', 'Unsqueeze', 'Flatten', 'Gather', 'Identity', 'ReorderInput', 'ReorderOutput']);

/** The ONNX operator a kernel implements, and whether it computes in integers. */
export function classifyKernel(k: Pick<KernelRun, 'op' | 'inputTypes'>): { op: string; quantised: boolean } | 'quantize' | 'dequantize' {
  if (k.op === 'QuantizeLinear' || k.op === 'DynamicQuantizeLinear') return 'quantize';
  if (k.op === 'DequantizeLinear') return 'dequantize';
  if (k.op === 'ConvInteger') return { op: 'Conv', quantised: true };
  if (k.op === 'MatMulInteger' || k.op === 'MatMulIntegerToFloat' || k.op === 'DynamicQuantizeMatMul') return { op: 'MatMul', quantised: true };
  if (k.op === 'QGemm') return { op: 'Gemm', quantised: true };
  const q = /^QLinear(.+)$/.exec(k.op);
  if (q) return { op: q[1]!, quantised: true };
  // Float kernels ORT fuses an activation into, and its NHWC/NCHWc layout kernels (the element type tells which).
  const base = k.op.replace(/^Fused(?=Conv|MatMul|Gemm)/, '').replace(/^Nhwc(?=MaxPool|Conv)/, '');
  return { op: base, quantised: INT_TYPES.has(k.inputTypes[0] ?? '') && !DATA_MOVEMENT.has(base) };
}

/** Summarises a profile against the layers the candidate meant to quantise (op type -> count). */
export function summariseKernels(kernels: KernelRun[], planned: Map<string, number>): KernelReport {
  const rows = new Map<string, KernelRow>();
  const row = (op: string): KernelRow => {
    let r = rows.get(op);
    if (!r) rows.set(op, (r = { op, planned: planned.get(op) ?? 0, quantised: 0, quantisedKernels: [], float: 0 }));
    return r;
  };
  for (const op of planned.keys()) row(op);
  let quantizeLinear = 0;
  let dequantizeLinear = 0;
  for (const k of kernels) {
    const c = classifyKernel(k);
    if (c === 'quantize') quantizeLinear++;
    else if (c === 'dequantize') dequantizeLinear++;
    else if (c.quantised) {
      const r = row(c.op);
      r.quantised++;
      if (!r.quantisedKernels.includes(k.op)) r.quantisedKernels.push(k.op);
    } else if (rows.has(c.op) || LAYER_OPS.has(c.op)) row(c.op).float++;
  }
  // A float row is shown only when the op also ran quantised somewhere or is a layer type.
  const shown = [...rows.values()].filter((r) => r.planned || r.quantised || LAYER_OPS.has(r.op)).sort((a, b) => b.planned - a.planned || b.quantised - a.quantised || a.op.localeCompare(b.op));
  const layerRows = shown.filter((r) => LAYER_OPS.has(r.op));
  const plannedTotal = layerRows.reduce((n, r) => n + r.planned, 0);
  const ranQuantised = layerRows.reduce((n, r) => n + Math.min(r.planned, r.quantised), 0);
  const qdq = quantizeLinear + dequantizeLinear;
  const ranFloatWithQdq = qdq ? layerRows.reduce((n, r) => n + Math.max(0, r.planned - r.quantised), 0) : 0;
  const mostlyFloat = plannedTotal > 0 && ranFloatWithQdq * 2 > plannedTotal;
  const providers = [...new Set(kernels.map((k) => k.provider))];
  const fusedOthers = shown.filter((r) => !LAYER_OPS.has(r.op) && r.quantised).map((r) => `${r.op} ${r.quantised}`);
  const kinds = [layerRows.filter((r) => r.quantised).map((r) => `${r.op} ${r.quantised} ${r.quantisedKernels.join('/')}`).join(', '), fusedOthers.length ? `also in int8: ${fusedOthers.join(', ')}` : ''].filter(Boolean).join('; ');
  const summary = mostlyFloat
    ? `its quantised layers mostly ran as float kernels with QuantizeLinear/DequantizeLinear around them: ONNX Runtime fused ${ranQuantised} of ${plannedTotal} into int8 kernels${kinds ? ` (${kinds})` : ''}, ${ranFloatWithQdq} ran in float with ${quantizeLinear} QuantizeLinear and ${dequantizeLinear} DequantizeLinear executed per inference`
    : `ONNX Runtime ran ${ranQuantised} of ${plannedTotal} quantised layers as int8 kernels${kinds ? ` (${kinds})` : ''}${ranFloatWithQdq ? `, ${ranFloatWithQdq} in float with Q/DQ around them` : ''}; ${quantizeLinear} QuantizeLinear and ${dequantizeLinear} DequantizeLinear per inference`;
  return { rows: shown, quantizeLinear, dequantizeLinear, planned: plannedTotal, ranQuantised, ranFloatWithQdq, mostlyFloat, providers, summary };
}

/** The report's kernel table. */
export function formatKernels(k: KernelReport): string[] {
  const out = [`kernels ONNX Runtime ran for the int8 variant (profiled, ${k.providers.join(', ') || 'no provider'}):`, `  ${'op'.padEnd(18)} ${'int8 planned'.padStart(12)} ${'int8 kernels'.padStart(12)} ${'float kernels'.padStart(13)}  kernels`];
  for (const r of k.rows) out.push(`  ${r.op.padEnd(18)} ${String(r.planned || '-').padStart(12)} ${String(r.quantised).padStart(12)} ${String(r.float).padStart(13)}  ${r.quantisedKernels.join(', ') || '-'}`);
  out.push(`  ${k.summary}`);
  return out;
}
