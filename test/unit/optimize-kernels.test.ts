import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeModel, profileKernels } from '../../drivers/onnx/index.js';
import { classifyKernel, summariseKernels } from '../../scripts/optimize/kernels.js';

const repo = resolve(import.meta.dirname, '..', '..');
const int8File = resolve(repo, 'models', 'conveyor-demo', 'student-int8.onnx');

/** The demo int8 model's quantised layers: Conv nodes whose weight comes from a DequantizeLinear. */
function plannedConvs(bytes: Uint8Array): number {
  const g = decodeModel(bytes, int8File).graph;
  const fromDq = new Set(g.node.filter((n) => n.opType === 'DequantizeLinear').map((n) => n.output[0]));
  return g.node.filter((n) => n.opType === 'Conv' && fromDq.has(n.input[1])).length;
}

describe('which kernels ONNX Runtime really runs for a QDQ model (profiled)', () => {
  const bytes = new Uint8Array(readFileSync(int8File));
  const feed = { images: { data: new Float32Array(3 * 240 * 320).fill(0.4), dims: [1, 3, 240, 320] } };

  it('the demo int8 student: its quantised Conv layers run as QLinearConv on the CPU provider', async () => {
    const planned = plannedConvs(bytes);
    expect(planned).toBeGreaterThan(4);
    const kernels = await profileKernels(bytes, feed, { runs: 2 });
    expect(kernels.every((k) => k.provider === 'CPUExecutionProvider')).toBe(true);
    const r = summariseKernels(kernels, new Map([['Conv', planned]]));
    const conv = r.rows.find((x) => x.op === 'Conv')!;
    expect(conv.quantisedKernels).toEqual(['QLinearConv']);
    expect(r.ranQuantised).toBe(planned);
    expect(r.mostlyFloat).toBe(false);
    expect(r.summary).toMatch(new RegExp(`^ONNX Runtime ran ${planned} of ${planned} quantised layers as int8 kernels \\(Conv \\d+ QLinearConv; also in int8: [^)]*MaxPool \\d+[^)]*\\)`));
  });

  it('the same file with QDQ fusion turned off (session.disable_quant_qdq): float Conv with Q/DQ executed, named as such', async () => {
    const planned = plannedConvs(bytes);
    const kernels = await profileKernels(bytes, feed, { runs: 2, extra: { session: { disable_quant_qdq: '1' } } });
    const r = summariseKernels(kernels, new Map([['Conv', planned]]));
    expect(r.ranQuantised).toBe(0);
    expect(r.ranFloatWithQdq).toBe(planned);
    expect(r.dequantizeLinear).toBeGreaterThanOrEqual(planned);
    expect(r.mostlyFloat).toBe(true);
    expect(r.summary).toMatch(new RegExp(`^its quantised layers mostly ran as float kernels with QuantizeLinear/DequantizeLinear around them: ONNX Runtime fused 0 of ${planned} into int8 kernels, ${planned} ran in float`));
  });

  it('kernel names map to the operator they implement', () => {
    expect(classifyKernel({ op: 'QLinearConv', inputTypes: ['uint8'] })).toEqual({ op: 'Conv', quantised: true });
    expect(classifyKernel({ op: 'ConvInteger', inputTypes: ['uint8'] })).toEqual({ op: 'Conv', quantised: true });
    expect(classifyKernel({ op: 'MatMulIntegerToFloat', inputTypes: ['uint8'] })).toEqual({ op: 'MatMul', quantised: true });
    expect(classifyKernel({ op: 'QGemm', inputTypes: ['uint8'] })).toEqual({ op: 'Gemm', quantised: true });
    expect(classifyKernel({ op: 'QLinearSigmoid', inputTypes: ['uint8'] })).toEqual({ op: 'Sigmoid', quantised: true });
    expect(classifyKernel({ op: 'FusedConv', inputTypes: ['float'] })).toEqual({ op: 'Conv', quantised: false });
    expect(classifyKernel({ op: 'NhwcMaxPool', inputTypes: ['uint8'] })).toEqual({ op: 'MaxPool', quantised: true });
    expect(classifyKernel({ op: 'Transpose', inputTypes: ['uint8'] })).toEqual({ op: 'Transpose', quantised: false });
    expect(classifyKernel({ op: 'DequantizeLinear', inputTypes: ['uint8'] })).toBe('dequantize');
  });
});
