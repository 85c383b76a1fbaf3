import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TfliteBackend } from '../../drivers/inference/tflite/backend.js';
import { formatInspection, inspectModel } from '../../scripts/optimize/inspect-model.js';
import { readTfliteModel } from '../../scripts/optimize/tflite-file.js';

/**
 * None of the public models in ../shared has per-axis quantised inputs or outputs, so this test writes the smallest
 * TFLite model that has one: one int8 tensor [1,2,2,3], input and output of the graph, quantised per channel on axis 3.
 * It is written with a tiny FlatBuffers writer (fields by their schema.fbs slot, as the reader reads them); the real
 * TFLite runtime loading it (its flatbuffer verifier runs first) is the check that the bytes follow the format.
 */
type Scalar = { t: 'u8' | 'i32' | 'u32'; v: number };
type Obj = { k: 'table'; f: Array<Scalar | Obj | undefined> } | { k: 'vec'; t: 'i32' | 'f32' | 'i64'; v: number[] } | { k: 'vecOff'; v: Obj[] } | { k: 'str'; s: string };
const isScalar = (x: Scalar | Obj): x is Scalar => 't' in x && !('k' in x);

function writeFlatbuffer(root: Obj, ident: string): Buffer {
  const b = Buffer.alloc(4096);
  let pos = 8;
  const align = (n: number, rem = 0): void => {
    while (pos % n !== rem) b[pos++] = 0;
  };
  const put = (o: Obj): number => {
    if (o.k === 'str') {
      align(4);
      const at = pos;
      b.writeUInt32LE(o.s.length, pos);
      pos += 4 + b.write(o.s, pos + 4, 'utf8');
      b[pos++] = 0;
      return at;
    }
    if (o.k === 'vec') {
      align(o.t === 'i64' ? 8 : 4, o.t === 'i64' ? 4 : 0);
      const at = pos;
      b.writeUInt32LE(o.v.length, pos);
      pos += 4;
      for (const x of o.v) {
        if (o.t === 'i64') (b.writeBigInt64LE(BigInt(x), pos), (pos += 8));
        else if (o.t === 'f32') (b.writeFloatLE(x, pos), (pos += 4));
        else (b.writeInt32LE(x, pos), (pos += 4));
      }
      return at;
    }
    if (o.k === 'vecOff') {
      align(4);
      const at = pos;
      b.writeUInt32LE(o.v.length, pos);
      pos += 4;
      const slots = o.v.map((_, i) => pos + 4 * i);
      pos += 4 * o.v.length;
      o.v.forEach((child, i) => b.writeUInt32LE(put(child) - slots[i]!, slots[i]!));
      return at;
    }
    // Table: vtable first, then the table (soffset back to the vtable), fields aligned, children after.
    const sizes = o.f.map((x) => (x === undefined ? 0 : isScalar(x) ? (x.t === 'u8' ? 1 : 4) : 4));
    const offsets: number[] = [];
    let size = 4;
    for (const s of sizes) {
      if (!s) {
        offsets.push(0);
        continue;
      }
      while (size % s) size++;
      offsets.push(size);
      size += s;
    }
    align(2);
    const vt = pos;
    b.writeUInt16LE(4 + 2 * o.f.length, pos);
    b.writeUInt16LE(size, pos + 2);
    offsets.forEach((off, i) => b.writeUInt16LE(off, pos + 4 + 2 * i));
    pos += 4 + 2 * o.f.length;
    align(4);
    const t = pos;
    b.writeInt32LE(t - vt, t);
    pos = t + size;
    o.f.forEach((x, i) => {
      if (x === undefined) return;
      const at = t + offsets[i]!;
      if (isScalar(x)) {
        if (x.t === 'u8') b.writeUInt8(x.v, at);
        else if (x.t === 'i32') b.writeInt32LE(x.v, at);
        else b.writeUInt32LE(x.v, at);
      }
    });
    o.f.forEach((x, i) => {
      if (x === undefined || isScalar(x)) return;
      const at = t + offsets[i]!;
      b.writeUInt32LE(put(x) - at, at);
    });
    return t;
  };
  b.write(ident, 4, 'latin1');
  b.writeUInt32LE(put(root), 0);
  align(16);
  return b.subarray(0, pos);
}

const tmp = mkdtempSync(join(tmpdir(), 'tflite-file-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('per-axis quantisation in a TFLite file', () => {
  // QuantizationParameters { min, max, scale, zero_point, details_type, details, quantized_dimension }
  const quant: Obj = { k: 'table', f: [undefined, undefined, { k: 'vec', t: 'f32', v: [0.5, 0.25, 0.125] }, { k: 'vec', t: 'i64', v: [0, -1, 2] }, undefined, undefined, { t: 'i32', v: 3 }] };
  // Tensor { shape, type (INT8 = 9), buffer, name, quantization }
  const tensor: Obj = { k: 'table', f: [{ k: 'vec', t: 'i32', v: [1, 2, 2, 3] }, { t: 'u8', v: 9 }, { t: 'u32', v: 0 }, { k: 'str', s: 'per_axis' }, quant] };
  // SubGraph { tensors, inputs, outputs, operators, name }
  const subgraph: Obj = { k: 'table', f: [{ k: 'vecOff', v: [tensor] }, { k: 'vec', t: 'i32', v: [0] }, { k: 'vec', t: 'i32', v: [0] }, { k: 'vecOff', v: [] }, { k: 'str', s: 'main' }] };
  // Model { version, operator_codes, subgraphs, description, buffers (buffer 0: the empty sentinel) }
  const model: Obj = { k: 'table', f: [{ t: 'u32', v: 3 }, { k: 'vecOff', v: [] }, { k: 'vecOff', v: [subgraph] }, { k: 'str', s: 'per-axis test' }, { k: 'vecOff', v: [{ k: 'table', f: [] }] }] };
  const file = join(tmp, 'per_axis.tflite');
  writeFileSync(file, writeFlatbuffer(model, 'TFL3'));

  it('the TFLite runtime accepts the file, and sees the tensor as the reader does', async () => {
    const backend = new TfliteBackend();
    await backend.load({ file, accelerator: 'cpu' });
    try {
      expect(backend.inputs()).toEqual([expect.objectContaining({ name: 'per_axis', shape: [1, 2, 2, 3], dtype: 'int8' })]);
      expect(backend.outputs().map((t) => t.name)).toEqual(['per_axis']);
    } finally {
      await backend.close();
    }
  });

  it('the reader gives one scale and zero point per channel and the axis; inspect prints them', () => {
    const m = readTfliteModel(writeFlatbuffer(model, 'TFL3'), file);
    expect(m.description).toBe('per-axis test');
    expect(m.inputs).toEqual([{ index: 0, name: 'per_axis', shape: [1, 2, 2, 3], dtype: 'int8', quant: { scale: [0.5, 0.25, 0.125], zeroPoint: [0, -1, 2], axis: 3 } }]);
    const r = inspectModel(file);
    expect(r.inputs[0]!.quant).toEqual({ scale: [0.5, 0.25, 0.125], zeroPoint: [0, -1, 2], axis: 3 });
    expect(formatInspection(r)).toContain('  per_axis  [1, 2, 2, 3]  int8  layout NHWC  quant per-axis (axis 3, 3 channels): scale [0.5, 0.25, 0.125] zero point [0, -1, 2]\n');
    // A per-axis input cannot be turned into one mean/std: the draft keeps the float default for the user to set.
    expect((r.manifest as { input: { normalise: unknown } }).input.normalise).toEqual({ mean: [0, 0, 0], std: [255, 255, 255] });
  });

  it('the same bytes with another file identifier are refused by name', () => {
    expect(() => readTfliteModel(writeFlatbuffer(model, 'BFBS'), 'x.tflite')).toThrow('x.tflite is not a TFLite model: its flatbuffer identifier (bytes 4-8) is "BFBS", not "TFL3"');
  });
});
