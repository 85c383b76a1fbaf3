import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inputSchema } from '../../agent/model/manifest-schema.js';
import { computeGeometry } from '../../agent/core/geometry.js';
import { TensorPacker } from '../../agent/preprocess/tensor.js';
import { fileSourceSchema } from '../../agent/config/sections/source.js';
import { FileDriver } from '../../drivers/camera/plans/ffmpeg.js';
import { defaultSpawner } from '../../drivers/camera/tools.js';
import { framesFromSource } from '../../scripts/optimize/frames.js';

// Frames of a video file for optimize and `bench --source` are decoded by the agent's own file source driver: the
// same ffmpeg plan (here an MJPEG clip, which the driver decodes at reduced size with -lowres, into gbrp planes for
// an NCHW model), N of them spread over the clip.
const dir = mkdtempSync(join(tmpdir(), 'frames-driver-'));
const clip = join(dir, 'cam.mkv');
execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=640x480:rate=10:duration=2', '-c:v', 'mjpeg', '-q:v', '3', '-y', clip]);
const input = inputSchema.parse({ name: 'in', shape: [1, 3, 120, 160], layout: 'NCHW', resize: 'stretch' });

describe('framesFromSource on a video file', () => {
  it('gives the frames the agent would see at evenly spread indices (the driver plan, -lowres included)', async () => {
    const frames = await framesFromSource(clip, 5, input);
    expect(frames.map((f) => f.index)).toEqual([0, 4, 8, 12, 16]);

    // Every frame as the agent's file source delivers it, packed by the agent's packer.
    const driver = new FileDriver(fileSourceSchema.parse({ type: 'file', path: clip, pace: 'fast', loop: false }));
    const probe = await driver.probe(input, defaultSpawner);
    const plan = driver.plan(computeGeometry(probe.width, probe.height, 160, 120, 'stretch'), input, { planar: true });
    expect(plan.stages[0]!.args).toContain('-lowres');
    const all = execFileSync('ffmpeg', plan.stages[0]!.args.map((a) => (a === 'pipe:1' ? '-' : a)), { maxBuffer: 1 << 26 });
    const bytes = 160 * 120 * 3;
    expect(all.length).toBe(20 * bytes);
    const packer = new TensorPacker(input, { dtype: 'float32', buffers: 1 });
    for (const f of frames) {
      const raw = new Uint8Array(all.subarray(f.index! * bytes, (f.index! + 1) * bytes));
      const want = Float32Array.from(packer.pack({ data: raw, width: 160, height: 120, format: plan.format }) as Float32Array);
      expect(f.tensor.data).toEqual(want);
    }
    // Decoded at full size instead (no -lowres), the pixels differ: the driver's plan is what was used.
    const full = execFileSync('ffmpeg', ['-v', 'error', '-i', clip, '-vf', 'scale=160:120:flags=area,format=gbrp', '-frames:v', '1', '-f', 'rawvideo', '-']);
    const first = Float32Array.from(packer.pack({ data: new Uint8Array(full), width: 160, height: 120, format: 'gbrp' }) as Float32Array);
    expect(frames[0]!.tensor.data).not.toEqual(first);
  });
});
