import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import {
  countFlops,
  DataType,
  decodeModel,
  encodeModel,
  floatToHalf,
  halfToFloat,
  inferShapes,
  makeFloat16Tensor,
  makeFloatTensor,
  makeInt64Tensor,
  makeNode,
  onnx,
  readModel,
  toFloat32,
  toNumbers,
  type IValueInfoProto,
  type Model,
} from '../../drivers/onnx/index.js';

const repoRoot = resolve(import.meta.dirname, '..', '..');
const sharedDir = resolve(repoRoot, '..', 'shared', 'models');
const ultraface = resolve(sharedDir, 'ultraface', 'version-RFB-320.onnx');
const nanodet = resolve(sharedDir, 'nanodet-m', 'nanodet_m_320.onnx');

function valueInfo(name: string, dims: number[]): IValueInfoProto {
  return { name, type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } };
}

function seq(n: number, scale = 0.01): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.7) * scale);
}

/** x[1,3,8,8] -> Conv 3->8 k3 pad1 -> depthwise Conv 8 k3 s2 -> Reshape [1,128] -> Gemm(transB) 128->10 -> MatMul 10x4. */
function tinyModel(): Model {
  const nodes = [
    makeNode('Conv', ['x', 'w1', 'b1'], ['c1'], 'conv1', { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }),
    makeNode('Relu', ['c1'], ['r1'], 'relu1'),
    makeNode('Conv', ['r1', 'w2'], ['c2'], 'dw', { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [2, 2], group: 8 }),
    makeNode('Reshape', ['c2', 'shape'], ['flat'], 'flatten'),
    makeNode('Gemm', ['flat', 'w3', 'b3'], ['g'], 'fc', { transB: 1 }),
    makeNode('MatMul', ['g', 'w4'], ['y'], 'mm'),
  ];
  const graph = onnx.GraphProto.create({
    name: 'tiny',
    node: nodes,
    initializer: [
      makeFloatTensor('w1', [8, 3, 3, 3], seq(216, 0.3)),
      makeFloatTensor('b1', [8], seq(8, 0.1)),
      makeFloatTensor('w2', [8, 1, 3, 3], seq(72, 0.3)),
      makeInt64Tensor('shape', [2], [1, 128]),
      makeFloatTensor('w3', [10, 128], seq(1280, 0.1)),
      makeFloatTensor('b3', [10], seq(10, 0.1)),
      makeFloatTensor('w4', [10, 4], seq(40, 0.5)),
    ],
    input: [valueInfo('x', [1, 3, 8, 8])],
    output: [valueInfo('y', [1, 4])],
  });
  return onnx.ModelProto.create({ irVersion: 7, opsetImport: [{ domain: '', version: 13 }], graph }) as unknown as Model;
}

describe('ONNX protobuf and tensors', () => {
  it('round-trips a model through encode/decode and runs it in ONNX Runtime', async () => {
    const bytes = encodeModel(tinyModel());
    const back = decodeModel(bytes);
    expect(back.graph.node.map((n) => n.opType)).toEqual(['Conv', 'Relu', 'Conv', 'Reshape', 'Gemm', 'MatMul']);
    expect(Array.from(toFloat32(back.graph.initializer[0]!)).slice(0, 3)).toEqual(Array.from(seq(216, 0.3).slice(0, 3)));
    expect(toNumbers(back.graph.initializer[3]!)).toEqual([1, 128]);
    const s = await ort.InferenceSession.create(bytes);
    const out = await s.run({ x: new ort.Tensor('float32', new Float32Array(192).fill(1), [1, 3, 8, 8]) });
    expect(out.y!.dims).toEqual([1, 4]);
    await s.release();
  });

  it('rejects bytes that are not a model with a one-line error', () => {
    expect(() => decodeModel(new Uint8Array([0xff, 0xff, 0xff]), 'junk.onnx')).toThrow(/junk.onnx is not a valid ONNX model/);
  });

  it('converts float16 with round-to-nearest-even like IEEE 754', () => {
    expect(floatToHalf(1)).toBe(0x3c00);
    expect(floatToHalf(-2)).toBe(0xc000);
    expect(floatToHalf(65504)).toBe(0x7bff);
    expect(floatToHalf(70000)).toBe(0x7c00); // overflow -> Inf
    expect(floatToHalf(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(floatToHalf(1 + 2 ** -11)).toBe(0x3c00); // halfway, even stays
    expect(floatToHalf(1 + 3 * 2 ** -11)).toBe(0x3c02); // halfway, odd rounds up
    expect(halfToFloat(0x3555)).toBeCloseTo(0.33325, 5);
    const t = makeFloat16Tensor('h', [3], Float32Array.from([0.1, -3.5, 1000]));
    expect(Array.from(toFloat32(t)).map((v) => +v.toFixed(3))).toEqual([0.1, -3.5, 1000]);
  });
});

describe('shape inference and FLOPs', () => {
  it('counts exact FLOPs on a hand-built model (conv, depthwise, Gemm transB, MatMul)', () => {
    const r = countFlops(tinyModel());
    const by = Object.fromEntries(r.perNode.map((n) => [n.name, n]));
    expect(by.conv1!.macs).toBe(8 * 8 * 8 * 3 * 3 * 3); // out elems 8x8x8, each 3*3*3 MACs
    expect(by.conv1!.flops).toBe(2 * 13824 + 512); // + bias add per output
    expect(by.dw!.outputShape).toEqual([1, 8, 4, 4]);
    expect(by.dw!.macs).toBe(8 * 4 * 4 * 9); // depthwise: 1 input channel per group
    expect(by.fc!.macs).toBe(10 * 128);
    expect(by.fc!.flops).toBe(2 * 1280 + 10);
    expect(by.mm!.macs).toBe(4 * 10);
    expect(by.relu1!.flops).toBe(512);
    expect(by.flatten!.flops).toBe(0);
    expect(r.total).toBe(r.perNode.reduce((a, n) => a + n.flops, 0));
  });

  it('rejects a dynamic input shape', () => {
    const m = tinyModel();
    m.graph.input[0] = onnx.ValueInfoProto.create({ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'N' }, { dimValue: 3 }, { dimValue: 8 }, { dimValue: 8 }] } } } });
    expect(() => inferShapes(m)).toThrow(/input "x" has a dynamic shape \[\?,3,8,8\]/);
  });

  describe.skipIf(!existsSync(sharedDir))('real models from ../shared/models', () => {
    it('UltraFace RFB-320: shapes match ONNX Runtime outputs; MACs match onnx.shape_inference', async () => {
      const m = readModel(ultraface);
      const shapes = inferShapes(m);
      expect(shapes.get('scores')!.dims).toEqual([1, 4420, 2]);
      expect(shapes.get('boxes')!.dims).toEqual([1, 4420, 4]);
      // Reference: sum over Conv nodes of prod(output dims) * prod(weight dims[1:]) with the Python onnx package's
      // shape inference (onnx.shape_inference.infer_shapes), computed once on this file: 100,418,560.
      const r = countFlops(ultraface);
      expect(r.macs).toBe(100_418_560);
      expect(r.total / 1e6).toBeGreaterThan(200);
      expect(r.total / 1e6).toBeLessThan(220);
    });

    it('NanoDet-m 320: MACs match onnx.shape_inference (published as 0.72 GFLOPs)', () => {
      const r = countFlops(nanodet);
      expect(r.macs).toBe(342_223_200);
      expect(r.total / 1e9).toBeCloseTo(0.70, 1);
      const last = r.perNode.find((n) => n.name && r.perNode.indexOf(n) === r.perNode.length - 1)!;
      expect(last.outputShape[2]).toBe(32);
    });
  });
  it.skipIf(existsSync(sharedDir))('real-model checks skipped: ../shared absent', () => {});
});
