import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadManifest, variantInput } from '../../agent/model/manifest.js';
import { computeGeometry } from '../../agent/core/geometry.js';
import { fileSourceSchema } from '../../agent/config/sections/source.js';
import { FileDriver } from '../../drivers/camera/plans/ffmpeg.js';
import { probeImage, readImageForModel } from '../../drivers/image/read.js';
import { framesFromSource } from '../../scripts/optimize/frames.js';

// The manifest's input.resizeFilter reaches every ffmpeg that scales a picture for the model, and the two filters
// really give different pixels (real ffmpeg on a generated clip and picture with fine detail).

const dir = mkdtempSync(join(tmpdir(), 'resize-filter-'));
const clip = join(dir, 'clip.mkv');
const png = join(dir, 'still.png');
// testsrc2 has sharp edges and text (kept RGB and lossless so the still and the clip hold the same pixels): a 3.3x downscale averages them differently with area and bilinear.
execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=640x480:rate=10:duration=1', '-c:v', 'ffv1', '-pix_fmt', 'gbrp', '-y', clip]);
execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=640x480', '-frames:v', '1', '-y', png]);

function manifest(resizeFilter?: 'area' | 'bilinear') {
  const sub = mkdtempSync(join(dir, 'm-'));
  const f = join(sub, 'manifest.json');
  const input = { name: 'in', shape: [1, 144, 192, 3], layout: 'NHWC', resize: 'stretch', ...(resizeFilter ? { resizeFilter } : {}) };
  writeFileSync(
    f,
    JSON.stringify({ schema: 1, name: 'm', labels: ['a'], input, decoder: { type: 'yolov8' }, variants: [{ name: 'v', file: 'm.onnx', runtime: 'onnxruntime', accelerator: 'cpu', precision: 'fp32', sha256: 'a'.repeat(64) }] }),
  );
  const m = loadManifest(f);
  return variantInput(m, m.variants[0]!);
}

function decodePlan(resizeFilter?: 'area' | 'bilinear'): { args: string[]; pixels: Buffer } {
  const input = manifest(resizeFilter);
  const driver = new FileDriver(fileSourceSchema.parse({ type: 'file', path: clip, pace: 'fast', loop: false }));
  const g = computeGeometry(640, 480, 192, 144, 'stretch');
  const plan = driver.plan(g, input);
  const args = plan.stages[0]!.args.map((a) => (a === 'pipe:1' ? '-' : a));
  const pixels = execFileSync('ffmpeg', [...args.slice(0, -1), '-frames:v', '1', '-'], { maxBuffer: 1 << 24 });
  return { args: plan.stages[0]!.args, pixels };
}

function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  expect(a.length).toBe(b.length);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return s / a.length;
}

describe('input.resizeFilter', () => {
  it('defaults to area and accepts bilinear; anything else is a one-line manifest error', () => {
    expect(manifest().resizeFilter).toBe('area');
    expect(manifest('bilinear').resizeFilter).toBe('bilinear');
    expect(() => manifest('bicubic' as 'area')).toThrow(/input\.resizeFilter/);
  });

  it('the file source scales with the manifest filter: the argument list and the decoded pixels', () => {
    const area = decodePlan();
    const bilinear = decodePlan('bilinear');
    const vf = (args: string[]): string => args[args.indexOf('-vf') + 1]!;
    expect(vf(area.args)).toMatch(/^scale=192:144:flags=area,/);
    expect(vf(bilinear.args)).toMatch(/^scale=192:144:flags=bilinear,/);
    expect(area.pixels.length).toBe(192 * 144 * 3);
    // Same frame, same geometry: only the filter differs, and it moves the pixels.
    expect(meanAbsDiff(area.pixels, bilinear.pixels)).toBeGreaterThan(0.5);
    // The filter is deterministic: the same choice decodes the same pixels again.
    expect(meanAbsDiff(decodePlan('bilinear').pixels, bilinear.pixels)).toBe(0);
  });

  it('the still-image path (detect) and optimize frames use the same filter as the video source', async () => {
    const size = await probeImage(png);
    const read = async (f: 'area' | 'bilinear') => (await readImageForModel(png, size, { width: 192, height: 144, resize: 'stretch', align: 'center', color: 'RGB', padValue: 0, resizeFilter: f })).data;
    const stillArea = await read('area');
    const stillBilinear = await read('bilinear');
    expect(meanAbsDiff(stillArea, stillBilinear)).toBeGreaterThan(0.5);
    // Decoded from the PNG, the still equals the lossless RGB clip's first frame scaled with the same filter.
    expect(meanAbsDiff(stillBilinear, decodePlan('bilinear').pixels)).toBe(0);
    expect(meanAbsDiff(stillArea, decodePlan('area').pixels)).toBe(0);

    // optimize/bench frames: float tensors of the same pixels (raw 0..255, NHWC).
    const [fa] = await framesFromSource(clip, 1, manifest('area'));
    const [fb] = await framesFromSource(clip, 1, manifest('bilinear'));
    const bytes = (t: Float32Array): Uint8Array => Uint8Array.from(t, (v) => Math.round(v));
    expect(meanAbsDiff(bytes(fa!.tensor.data), decodePlan('area').pixels)).toBe(0);
    expect(meanAbsDiff(bytes(fb!.tensor.data), decodePlan('bilinear').pixels)).toBe(0);
  });
});
