import { describe, expect, it } from 'vitest';
import { computeGeometry, ffmpegFilter, inputBoxToSource, inputSize } from '../../agent/preprocess/geometry.js';
import { TensorPacker, buildLut } from '../../agent/preprocess/tensor.js';
import type { ManifestInput } from '../../agent/model/manifest-schema.js';

const base: ManifestInput = {
  name: 'x',
  shape: [1, 3, 2, 2],
  layout: 'NCHW',
  dtype: 'float32',
  color: 'RGB',
  resize: 'stretch',
  letterboxAlign: 'center',
  padValue: 0,
  resizeFilter: 'area',
  normalise: { mean: [0, 0, 0], std: [255, 255, 255] },
};

describe('geometry', () => {
  it('reads width/height/channels from NCHW and NHWC shapes', () => {
    expect(inputSize({ shape: [1, 3, 240, 320], layout: 'NCHW' })).toEqual({ channels: 3, height: 240, width: 320 });
    expect(inputSize({ shape: [1, 192, 128, 3], layout: 'NHWC' })).toEqual({ height: 192, width: 128, channels: 3 });
  });

  it('letterboxes a 768x576 picture into 320x320 centred', () => {
    const g = computeGeometry(768, 576, 320, 320, 'letterbox', 'center');
    expect(g).toEqual({ srcWidth: 768, srcHeight: 576, width: 320, height: 320, padX: 0, padY: 40, contentWidth: 320, contentHeight: 240 });
    expect(ffmpegFilter(g, 'BGR', 114)).toBe('scale=320:240:flags=area,pad=320:320:0:40:color=0x727272,format=bgr24');
  });

  it('letterboxes a portrait picture at the top-left', () => {
    const g = computeGeometry(512, 600, 192, 192, 'letterbox', 'topleft');
    expect(g.contentWidth).toBe(164); // 512 * 192/600 = 163.84
    expect(g.contentHeight).toBe(192);
    expect([g.padX, g.padY]).toEqual([0, 0]);
  });

  it('stretch fills the input and needs no pad filter', () => {
    const g = computeGeometry(640, 480, 320, 240, 'stretch');
    expect(ffmpegFilter(g, 'RGB')).toBe('scale=320:240:flags=area,format=rgb24');
  });

  it('maps input-pixel boxes back to normalised source coordinates through the letterbox', () => {
    const g = computeGeometry(768, 576, 320, 320, 'letterbox');
    // The picture spans y 40..280 of the input; a box from (32,40) to (160,160) covers x 0.1..0.5, y 0..0.5.
    const [x1, y1, x2, y2] = inputBoxToSource(g, 32, 40, 160, 160);
    expect(x1).toBeCloseTo(0.1, 10);
    expect(y1).toBeCloseTo(0, 10);
    expect(x2).toBeCloseTo(0.5, 10);
    expect(y2).toBeCloseTo(0.5, 10);
    // Boxes in the pad are clamped to the picture.
    expect(inputBoxToSource(g, -10, 0, 400, 300)).toEqual([0, 0, 1, 1]);
  });
});

describe('TensorPacker', () => {
  // A 2x2 RGB frame: pixel k has (R,G,B) = (10k, 10k+1, 10k+2).
  const frame = { width: 2, height: 2, data: Uint8Array.from([0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32]) };

  it('packs NCHW float32 with mean/std per channel', () => {
    const p = new TensorPacker({ ...base, normalise: { mean: [0, 1, 2], std: [2, 4, 8] } });
    const t = p.pack(frame) as Float32Array;
    expect(Array.from(t)).toEqual([0, 5, 10, 15, 0, 2.5, 5, 7.5, 0, 1.25, 2.5, 3.75]);
  });

  it('packs NCHW the same whether the frame is word-aligned or not, and for pixel counts that are not a multiple of 4', () => {
    const inp = (w: number, h: number) => ({ ...base, shape: [1, 3, h, w], normalise: { mean: [3, 7, 11], std: [2, 3, 5] } });
    for (const [w, h] of [[5, 3], [8, 4], [7, 1]] as const) {
      const n = w * h * 3;
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + 11) & 255);
      const expected: number[] = [];
      for (let c = 0; c < 3; c++) for (let k = 0; k < w * h; k++) expected.push(Math.fround((bytes[k * 3 + c]! - [3, 7, 11][c]!) / [2, 3, 5][c]!));
      // Aligned (its own buffer) and at an odd offset inside a larger one.
      const aligned = new Uint8Array(n);
      aligned.set(bytes);
      const backing = new Uint8Array(n + 8);
      const odd = backing.subarray(3, 3 + n);
      odd.set(bytes);
      for (const data of [aligned, odd]) {
        const t = new TensorPacker(inp(w, h)).pack({ width: w, height: h, data }) as Float32Array;
        expect(Array.from(t), `${w}x${h} offset ${data.byteOffset}`).toEqual(expected);
      }
    }
  });

  it('packs uint8 and int8 NCHW inputs through the same word-at-a-time path, and refuses a short frame', () => {
    const w = 5;
    const h = 2;
    const bytes = Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 53 + 7) & 255);
    const planar = [0, 1, 2].flatMap((c) => Array.from({ length: w * h }, (_, k) => bytes[k * 3 + c]!));
    const u8 = new TensorPacker({ ...base, shape: [1, 3, h, w], dtype: 'uint8', normalise: { mean: [0, 0, 0], std: [1, 1, 1] } }).pack({ width: w, height: h, data: bytes });
    expect(u8).toBeInstanceOf(Uint8Array);
    expect(Array.from(u8)).toEqual(planar);
    const i8 = new TensorPacker({ ...base, shape: [1, 3, h, w], dtype: 'int8', normalise: { mean: [0, 0, 0], std: [1, 1, 1] } }, { quant: { scale: 1, zeroPoint: -128 } }).pack({ width: w, height: h, data: bytes });
    expect(i8).toBeInstanceOf(Int8Array);
    expect(Array.from(i8)).toEqual(planar.map((v) => v - 128));
    expect(() => new TensorPacker({ ...base, shape: [1, 3, h, w] }).pack({ width: w, height: h, data: bytes.subarray(0, 29) })).toThrow(/frame has 29 bytes, 5x2x3 needs 30/);
  });

  it('packs NHWC float32 keeping interleaving', () => {
    const p = new TensorPacker({ ...base, shape: [1, 2, 2, 3], layout: 'NHWC', normalise: { mean: [127.5, 127.5, 127.5], std: [127.5, 127.5, 127.5] } });
    const t = p.pack(frame) as Float32Array;
    expect(t[0]).toBeCloseTo(-1, 6);
    expect(t[3]).toBeCloseTo(10 / 127.5 - 1, 6);
    expect(t[11]).toBeCloseTo(32 / 127.5 - 1, 6);
  });

  it('quantises uint8 and int8 inputs with the tensor scale and zero point', () => {
    // A model wanting (p/255) quantised with scale 1/255, zp 0 gets back the raw pixel.
    expect(Array.from(buildLut(0, 255, 'uint8', { scale: 1 / 255, zeroPoint: 0 }).subarray(0, 4))).toEqual([0, 1, 2, 3]);
    // int8 with zp -128: pixel 0 -> -128, pixel 255 -> 127.
    const lut = buildLut(0, 255, 'int8', { scale: 1 / 255, zeroPoint: -128 });
    expect([lut[0], lut[128], lut[255]]).toEqual([-128, 0, 127]);
    // Values outside the range are clamped, not wrapped.
    expect(buildLut(0, 1, 'uint8', { scale: 0.5, zeroPoint: 0 })[200]).toBe(255);
  });

  it('rotates buffers so the tensor of an in-flight inference is not overwritten', () => {
    const p = new TensorPacker(base, { buffers: 2 });
    const a = p.pack(frame);
    const b = p.pack(frame);
    const c = p.pack(frame);
    expect(a).not.toBe(b);
    expect(c).toBe(a);
  });

  it('by default rotates three buffers (two calls queued at a backend and one frame packed ahead)', () => {
    const plain = new TensorPacker(base);
    const [a, b, c, d] = [plain.pack(frame), plain.pack(frame), plain.pack(frame), plain.pack(frame)];
    expect(new Set([a, b, c]).size).toBe(3);
    expect(d).toBe(a);
    expect(a.buffer).toBeInstanceOf(ArrayBuffer);
  });

  it('refuses a frame of the wrong size', () => {
    const p = new TensorPacker(base);
    expect(() => p.pack({ width: 3, height: 2, data: new Uint8Array(18) })).toThrow(/frame is 3x2, the model wants 2x2/);
  });
});
