import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../agent/log.js';
import { calibrate } from '../../scripts/optimize/calibrate.js';
import { toFloat16 } from '../../scripts/optimize/fp16.js';
import { activationTensors, findTargets, type QuantTarget } from '../../scripts/optimize/plan.js';
import { prepareModel } from '../../scripts/optimize/prepare.js';
import { buildQdqModel } from '../../scripts/optimize/qdq.js';
import { createRunner, DataType, decodeModel, encodeModel, makeFloatTensor, makeInt64Tensor, makeNode, onnx, type IValueInfoProto, type Model } from '../../drivers/onnx/index.js';

function vi(name: string, dims: Array<number | string>): IValueInfoProto {
  return { name, type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } };
}

/** Deterministic pseudo-random values in [-scale, scale]. */
function rnd(n: number, scale: number, seed = 1): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return (s / 2147483648) * 2 * scale - scale;
  });
}

/**
 * x[1,3,16,16] -> Conv 3->8 + Relu -> depthwise Conv 8 s2 -> Reshape [1,512] -> Gemm(transB=1) 512->10 -> MatMul [10,4].
 * The Gemm's output rows have very different magnitudes so that a wrong per-channel axis would show.
 */
function tinyModel(opts: { dynamic?: boolean; extraOp?: string; opset?: number } = {}): Model {
  const w3 = rnd(5120, 0.05, 3);
  for (let r = 0; r < 10; r++) for (let k = 0; k < 512; k++) w3[r * 512 + k]! *= r % 2 ? 20 : 0.05;
  const nodes = [
    makeNode('Conv', ['x', 'w1', 'b1'], ['c1'], 'conv1', { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }),
    makeNode('Relu', ['c1'], ['r1'], 'relu1'),
    makeNode('Conv', ['r1', 'w2', 'b2'], ['c2'], 'dw', { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [2, 2], group: 8 }),
    makeNode('Reshape', ['c2', 'shape'], ['flat'], 'flatten'),
    makeNode('Gemm', ['flat', 'w3', 'b3'], ['g'], 'fc', { transB: 1 }),
    makeNode('MatMul', ['g', 'w4'], [opts.extraOp ? 'y0' : 'y'], 'mm'),
  ];
  if (opts.extraOp) nodes.push(makeNode(opts.extraOp, ['y0'], ['y'], 'extra'));
  const graph = onnx.GraphProto.create({
    name: 'tiny',
    node: nodes,
    initializer: [
      makeFloatTensor('w1', [8, 3, 3, 3], rnd(216, 0.5, 1)),
      makeFloatTensor('b1', [8], rnd(8, 0.1, 2)),
      makeFloatTensor('w2', [8, 1, 3, 3], rnd(72, 0.5, 4)),
      makeFloatTensor('b2', [8], rnd(8, 0.1, 5)),
      makeInt64Tensor('shape', [2], [1, 512]),
      makeFloatTensor('w3', [10, 512], w3),
      makeFloatTensor('b3', [10], rnd(10, 0.1, 6)),
      makeFloatTensor('w4', [10, 4], rnd(40, 0.5, 7)),
    ],
    input: [vi('x', [opts.dynamic ? 'N' : 1, 3, 16, 16])],
    output: [vi('y', [1, 4])],
  });
  return onnx.ModelProto.create({ irVersion: 7, opsetImport: [{ domain: '', version: opts.opset ?? 13 }], graph }) as unknown as Model;
}

const frames = Array.from({ length: 16 }, (_, i) => ({ data: rnd(768, 1, 100 + i), dims: [1, 3, 16, 16] }));

async function run(bytes: Uint8Array, x = frames[0]!): Promise<Float32Array> {
  const r = await createRunner(bytes);
  const out = await r.run({ x });
  await r.release();
  return out.y!.data;
}

describe('QDQ quantisation of a hand-built model', () => {
  it('finds the layers with the right weight axes and folds the ReLU', async () => {
    const prep = await prepareModel(encodeModel(tinyModel()), 'tiny');
    const t = findTargets(prep);
    expect(t.map((x) => [x.opType, x.weightAxis, !!x.relu])).toEqual([
      ['Conv', 0, true],
      ['Conv', 0, false],
      ['Gemm', 0, false], // transB=1: B is [N,K], output channels on axis 0
      ['MatMul', 1, false], // B is [K,N]
    ]);
  });

  it('quantised outputs stay close to float, and ONNX Runtime fuses the QDQ pairs into int8 kernels', async () => {
    const prep = await prepareModel(encodeModel(tinyModel()), 'tiny');
    const targets = findTargets(prep);
    const stats = await calibrate(prep, activationTensors(targets), frames, { method: 'minmax', log: silentLogger });
    const params = new Map([...stats].map(([k, v]) => [k, v.params]));
    // 7-bit weights (the default): with 8-bit weights this model is off by about 36% of its output range on this
    // AVX2 CPU (no VNNI), where ONNX Runtime's u8 x s8 kernel sums pairs of products in int16 and saturates.
    const { model, weightErrors } = buildQdqModel(prep, targets, params, { reduceRange: true });
    expect(weightErrors).toHaveLength(4);
    const ops = model.graph.node.map((n) => n.opType);
    expect(ops).not.toContain('Relu');
    const gemmDq = model.graph.node.find((n) => n.opType === 'DequantizeLinear' && n.output[0]!.startsWith('w3'))!;
    expect(gemmDq.attribute.find((a) => a.name === 'axis')!.i).toBe(0);
    const bytes = encodeModel(model);
    let worst = 0;
    let scale = 0;
    for (const f of frames.slice(0, 4)) {
      const a = await run(encodeModel(prep.model), f);
      const b = await run(bytes, f);
      a.forEach((v, i) => {
        worst = Math.max(worst, Math.abs(v - b[i]!));
        scale = Math.max(scale, Math.abs(v));
      });
    }
    // Measured: 1.4% of the output range on this model.
    expect(worst / scale).toBeLessThan(0.05);
    const fused = decodeModel(await optimizeWithOrtAll(bytes));
    const fusedOps = fused.graph.node.map((n) => n.opType);
    expect(fusedOps).toContain('QLinearConv');
    expect(fusedOps.some((o) => o === 'QGemm' || o === 'QLinearMatMul' || o === 'MatMulIntegerToFloat')).toBe(true);
  });

  it('leaving a layer out keeps its float weights', async () => {
    const prep = await prepareModel(encodeModel(tinyModel()), 'tiny');
    const targets = findTargets(prep).filter((t) => t.opType !== 'Gemm');
    const stats = await calibrate(prep, activationTensors(targets), frames.slice(0, 8), { method: 'percentile', percentile: 99.9, log: silentLogger });
    const { model } = buildQdqModel(prep, targets, new Map([...stats].map(([k, v]) => [k, v.params])));
    expect(model.graph.initializer.find((t) => t.name === 'w3')!.dataType).toBe(DataType.FLOAT);
    expect(model.graph.initializer.find((t) => t.name === 'w1')).toBeUndefined();
  });
});

async function optimizeWithOrtAll(bytes: Uint8Array): Promise<Uint8Array> {
  const { mkdtempSync, readFileSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const ort = await import('onnxruntime-node');
  const dir = mkdtempSync(join(tmpdir(), 'qdq-test-'));
  try {
    const s = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', optimizedModelFilePath: join(dir, 'o.onnx'), logSeverityLevel: 3 });
    await s.release();
    return readFileSync(join(dir, 'o.onnx'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('fp16 variant', () => {
  it('keeps float32 inputs/outputs, stores float16 weights, loads and runs on ONNX Runtime CPU', async () => {
    const prep = await prepareModel(encodeModel(tinyModel()), 'tiny');
    const half = toFloat16(prep.model);
    expect(half.graph.initializer.filter((t) => t.dataType === DataType.FLOAT)).toHaveLength(0);
    expect(half.graph.input[0]!.type!.tensorType!.elemType).toBe(DataType.FLOAT);
    const a = await run(encodeModel(prep.model));
    const b = await run(encodeModel(half));
    const maxA = Math.max(...Array.from(a, Math.abs));
    a.forEach((v, i) => expect(Math.abs(v - b[i]!)).toBeLessThan(maxA * 0.01));
  });
});

describe('models optimize refuses', () => {
  it('an already quantised model', async () => {
    const prep = await prepareModel(encodeModel(tinyModel()), 'tiny');
    const targets = findTargets(prep);
    const stats = await calibrate(prep, activationTensors(targets), frames.slice(0, 8), { method: 'minmax', log: silentLogger });
    const q = encodeModel(buildQdqModel(prep, targets, new Map([...stats].map(([k, v]) => [k, v.params]))).model);
    await expect(prepareModel(q, 'q.onnx')).rejects.toThrow(/q.onnx is already quantised \(node .* is (QuantizeLinear|DequantizeLinear)\)/);
  });

  it('a dynamic input shape', async () => {
    await expect(prepareModel(encodeModel(tinyModel({ dynamic: true })), 'dyn.onnx')).rejects.toThrow(/input "x" has a dynamic shape \[\?,3,16,16\]/);
  });

  it('an operator it does not know', async () => {
    await expect(prepareModel(encodeModel(tinyModel({ extraOp: 'NonZero' })), 'nz.onnx')).rejects.toThrow(/operator NonZero is not supported/);
  });

  it('bytes that are not a model', async () => {
    await expect(prepareModel(new Uint8Array([1, 2, 3, 4]), 'junk.onnx')).rejects.toThrow(/junk.onnx is not a valid ONNX model/);
  });

  it('upgrades opset 9 Slice/Unsqueeze-free models to 13 for per-channel axes', async () => {
    const prep = await prepareModel(encodeModel(tinyModel({ opset: 11 })), 'old');
    expect(prep.model.opsetImport!.find((o) => !o.domain)!.version).toBe(13);
  });
});

describe('float-prefix speed check candidates', () => {
  const t = (name: string, input: string): QuantTarget => ({ name, opType: 'Conv', input, weight: `${name}.w`, weightAxis: 0, output: `${name}.y` });
  it('starts with every layer reading the image, then adds layers in graph order, and never leaves nothing to quantise', async () => {
    const { floatPrefixes } = await import('../../scripts/optimize/optimize.js');
    const chain = [t('c0', 'images'), t('c1', 'c0.y'), t('c2', 'c1.y'), t('c3', 'c2.y'), t('c4', 'c3.y')];
    expect(floatPrefixes(chain, 'images', 3).map((p) => p.map((x) => x.name))).toEqual([['c0'], ['c0', 'c1'], ['c0', 'c1', 'c2']]);
    // Two branches on the image are one level; a three-layer model keeps at least one layer quantised.
    const branches = [t('a', 'images'), t('b', 'images'), t('c', 'a.y')];
    expect(floatPrefixes(branches, 'images', 3).map((p) => p.map((x) => x.name))).toEqual([['a', 'b']]);
    expect(floatPrefixes([t('x', 'other')], 'images', 3)).toEqual([]);
  });
});
