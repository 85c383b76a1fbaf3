import { describe, expect, it } from 'vitest';
import { prepareModel } from '../../scripts/optimize/prepare.js';
import { splitMaxPools } from '../../scripts/optimize/split-pools.js';
import { attrInts, createRunner, DataType, encodeModel, makeNode, onnx, type IValueInfoProto, type Model } from '../../drivers/onnx/index.js';

function vi(name: string, dims: number[]): IValueInfoProto {
  return { name, type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } };
}

/** x[1,4,19,23] -> MaxPool 5x3 (strides 2x3, asymmetric pads) -> MaxPool 7x7 s1 p3 -> MaxPool 3x3 ceil_mode (must stay). */
function poolModel(): Model {
  const graph = onnx.GraphProto.create({
    name: 'pools',
    node: [
      makeNode('MaxPool', ['x'], ['a'], 'odd', { kernel_shape: [5, 3], strides: [2, 3], pads: [2, 0, 1, 1] }),
      makeNode('MaxPool', ['a'], ['b'], 'square', { kernel_shape: [7, 7], pads: [3, 3, 3, 3] }),
      makeNode('MaxPool', ['b'], ['y'], 'ceil', { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 }),
    ],
    input: [vi('x', [1, 4, 19, 23])],
    output: [vi('y', [1, 4, 4, 4])],
  });
  return onnx.ModelProto.create({ irVersion: 7, opsetImport: [{ domain: '', version: 13 }], graph }) as unknown as Model;
}

async function run(bytes: Uint8Array, data: Float32Array): Promise<Float32Array> {
  const r = await createRunner(bytes);
  try {
    return (await r.run({ x: { data, dims: [1, 4, 19, 23] } })).y!.data;
  } finally {
    await r.release();
  }
}

describe('splitting max-pools into two 1-D pools', () => {
  it('gives bit-identical outputs, splits strides and pads per axis, and leaves ceil_mode pools alone', async () => {
    const x = Float32Array.from({ length: 4 * 19 * 23 }, (_, i) => Math.sin(i * 12.9898) * 43758.5453 % 1 - 0.5);
    const before = await run(encodeModel(poolModel()), x);
    const m = poolModel();
    expect(splitMaxPools(m)).toEqual(['odd', 'square']);
    const pools = m.graph.node.map((n) => [attrInts(n, 'kernel_shape'), attrInts(n, 'strides'), attrInts(n, 'pads')]);
    expect(pools).toEqual([
      [[5, 1], [2, 1], [2, 0, 1, 0]],
      [[1, 3], [1, 3], [0, 0, 0, 1]],
      [[7, 1], [1, 1], [3, 0, 3, 0]],
      [[1, 7], [1, 1], [0, 3, 0, 3]],
      [[3, 3], [2, 2], undefined],
    ]);
    const after = await run(encodeModel(m), x);
    expect(after.length).toBe(4 * 4 * 4); // 19x23 -> 9x8 -> 9x8 -> 4x4
    expect(Array.from(after)).toEqual(Array.from(before));
  });

  it('is part of the clean-up optimize does before quantising', async () => {
    const prep = await prepareModel(encodeModel(poolModel()), 'pools.onnx');
    expect(prep.splitPools).toEqual(['odd', 'square']);
    expect(prep.model.graph.node.filter((n) => n.opType === 'MaxPool')).toHaveLength(5);
  });
});
