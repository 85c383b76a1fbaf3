import { describe, expect, it } from 'vitest';
import { int8ChoiceFor } from '../../scripts/optimize/cpu-int8.js';
import { findTargets, fusePlan } from '../../scripts/optimize/plan.js';
import { prepareModel } from '../../scripts/optimize/prepare.js';
import { encodeModel, makeFloatTensor, makeNode, onnx } from '../../drivers/onnx/index.js';

describe('weight bits from the CPU flags (as doctor lists them)', () => {
  it('VNNI and ARM dot product: 8 bits; AVX2 without VNNI: 7', () => {
    expect(int8ChoiceFor('x86_64', ['avx2', 'avx512f', 'avx512_vnni']).weightBits).toBe(8);
    expect(int8ChoiceFor('x86_64', ['avx2', 'avx_vnni'])).toMatchObject({ weightBits: 8, instructions: 'AVX-VNNI (VPDPBUSD)' });
    expect(int8ChoiceFor('x86_64', ['avx2', 'fma'])).toMatchObject({ weightBits: 7, instructions: 'AVX2 without VNNI (VPMADDUBSW)' });
    expect(int8ChoiceFor('aarch64', ['asimd', 'asimddp']).instructions).toBe('ARMv8.2 dot product (SDOT/UDOT)');
    expect(int8ChoiceFor('aarch64', ['asimd']).weightBits).toBe(8);
  });
});

describe('QDQ placement ONNX Runtime fuses', () => {
  it('SiLU (Sigmoid * Mul), Concat and a MaxPool between two convolutions join; the pool shares its input scale', async () => {
    const w = (n: string, dims: number[]) => makeFloatTensor(n, dims, Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i) * 0.3));
    const nodes = [
      makeNode('Conv', ['x', 'w1'], ['c1'], 'conv1', { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }),
      makeNode('Sigmoid', ['c1'], ['s1'], 'sig1'),
      makeNode('Mul', ['c1', 's1'], ['silu1'], 'mul1'),
      makeNode('MaxPool', ['silu1'], ['p1'], 'pool1', { kernel_shape: [2, 2], strides: [2, 2] }),
      makeNode('MaxPool', ['c1'], ['p2'], 'pool2', { kernel_shape: [2, 2], strides: [2, 2] }),
      makeNode('Concat', ['p1', 'p2'], ['cat'], 'cat', { axis: 1 }),
      makeNode('Conv', ['cat', 'w2'], ['y'], 'conv2', { kernel_shape: [1, 1] }),
    ];
    const graph = onnx.GraphProto.create({
      name: 'silu', node: nodes, initializer: [w('w1', [4, 3, 3, 3]), w('w2', [2, 8, 1, 1])],
      input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: 3 }, { dimValue: 8 }, { dimValue: 8 }] } } } }],
      output: [{ name: 'y', type: { tensorType: { elemType: 1 } } }],
    });
    const prep = await prepareModel(encodeModel(onnx.ModelProto.create({ irVersion: 7, opsetImport: [{ domain: '', version: 13 }], graph })), 'silu.onnx');
    const plan = fusePlan(prep, findTargets(prep));
    // ORT's basic optimiser may rename tensors; find them by the producing op.
    const out = (op: string): string[] => prep.model.graph.node.filter((n) => n.opType === op).map((n) => n.output[0]!);
    expect(plan.tensors).toEqual(expect.arrayContaining([...out('Sigmoid'), ...out('Mul')]));
    for (const y of out('MaxPool')) expect(plan.tensors).toContain(y);
    expect(out('MaxPool').some((y) => plan.sameAs.has(y))).toBe(true);
    // The Concat output feeds conv2 and is quantised as its input already; the graph output stays float.
    expect(plan.tensors).not.toContain('y');
  });
});
