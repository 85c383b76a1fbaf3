/**
 * The tensor packer's WebAssembly SIMD kernel: the same float32 values as (p - mean) / std computed in float32, for
 * frames whose pixel count is and is not a multiple of its 16-pixel step, three tensors in one memory; the JS loop
 * when SIMD is switched off; and the generated module bytes in step with pack.wat.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { inputSchema } from '../../agent/model/manifest-schema.js';
import { TensorPacker } from '../../agent/preprocess/tensor.js';
import { generatedPath, generatedText } from '../../scripts/build-simd.js';

function frame(w: number, h: number, seed: number): { width: number; height: number; data: Uint8Array } {
  let x = seed;
  const data = new Uint8Array(w * h * 3).map(() => ((x = (x * 1103515245 + 12345) >>> 0), x >>> 24));
  return { width: w, height: h, data };
}

const f32 = (p: number, m: number, s: number): number => Math.fround(Math.fround(p - Math.fround(m)) / Math.fround(s));

describe('TensorPacker SIMD kernel', () => {
  afterEach(() => {
    delete process.env.EDGE_AGENT_NO_SIMD;
  });

  it.each([
    [320, 240, [0, 0, 0], [255, 255, 255]],
    [37, 23, [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]],
    [5, 3, [127.5, 127.5, 127.5], [127.5, 127.5, 127.5]],
  ])('%ix%i: every value is (p - mean) / std in float32, channel planes in order', (w, h, mean, std) => {
    const input = inputSchema.parse({ name: 'x', shape: [1, 3, h, w], layout: 'NCHW', normalise: { mean, std } });
    const p = new TensorPacker(input);
    expect(p.usesSimd).toBe(true);
    const f = frame(w, h, w * h);
    const out = p.pack(f);
    const px = w * h;
    let wrong = 0;
    for (let i = 0; i < px; i++) for (let c = 0; c < 3; c++) if (out[c * px + i] !== f32(f.data[3 * i + c]!, mean[c]!, std[c]!)) wrong++;
    expect(wrong).toBe(0);
    // The JS loop agrees to float32 rounding (it computes in double, then rounds).
    process.env.EDGE_AGENT_NO_SIMD = '1';
    const js = new TensorPacker(input);
    expect(js.usesSimd).toBe(false);
    const ref = js.pack(f);
    for (let i = 0; i < ref.length; i++) expect(Math.abs(out[i]! - ref[i]!)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(ref[i]!)));
  });

  it.each([
    ['RGB', 'NCHW', false],
    ['BGR', 'NCHW', false],
    ['RGB', 'NCHW', true],
    ['BGR', 'NHWC', true],
  ] as const)('a gbrp frame packs to the same tensor as the same picture packed (%s %s, JS loop: %s)', (color, layout, noSimd) => {
    if (noSimd) process.env.EDGE_AGENT_NO_SIMD = '1';
    const [w, h] = [37, 23];
    const shape = layout === 'NCHW' ? [1, 3, h, w] : [1, h, w, 3];
    const input = inputSchema.parse({ name: 'x', shape, layout, color, normalise: { mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375] } });
    const f = frame(w, h, 7); // packed, in the model's colour order
    const n = w * h;
    // The same picture as ffmpeg's gbrp: planes G, B, R.
    const [ri, bi] = color === 'RGB' ? [0, 2] : [2, 0];
    const planes = new Uint8Array(n * 3);
    for (let i = 0; i < n; i++) {
      planes[i] = f.data[i * 3 + 1]!;
      planes[n + i] = f.data[i * 3 + bi]!;
      planes[2 * n + i] = f.data[i * 3 + ri]!;
    }
    const p = new TensorPacker(input);
    expect(p.usesSimd).toBe(!noSimd && layout === 'NCHW');
    const packed = Array.from(p.pack({ ...f, format: color === 'RGB' ? 'rgb24' : 'bgr24' }));
    expect(Array.from(p.pack({ ...f, format: 'gbrp', data: planes }))).toEqual(packed);
  });

  it('rotates three tensors in one memory; a frame packed later does not touch the earlier ones', () => {
    const input = inputSchema.parse({ name: 'x', shape: [1, 3, 24, 32], layout: 'NCHW', normalise: { mean: [0, 0, 0], std: [255, 255, 255] } });
    const p = new TensorPacker(input);
    const frames = [frame(32, 24, 1), frame(32, 24, 2), frame(32, 24, 3)];
    const outs = frames.map((f) => p.pack(f));
    expect(new Set(outs.map((o) => o.byteOffset)).size).toBe(3);
    for (const o of outs) expect(o.buffer).toBe(outs[0]!.buffer);
    outs.forEach((o, k) => expect(o[5]).toBe(f32(frames[k]!.data[15]!, 0, 255)));
    expect(p.pack(frames[0]!)).toBe(outs[0]);
  });

  it('pack-wasm.ts is generated from the current pack.wat (else: npm run build:simd)', async () => {
    expect(readFileSync(generatedPath(), 'utf8')).toBe(await generatedText());
  });
});
