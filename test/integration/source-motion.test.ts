import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sourceSchema } from '../../agent/config/sections/source.js';
import { createMotionGate } from '../../agent/pipeline/motion.js';
import { createSource } from '../../drivers/camera/index.js';
import { ffmpeg, take, testInput } from '../fixtures/cameras/helpers.js';

let dir: string;
let clip: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'h8-motion-'));
  clip = join(dir, 'scene.mp4');
  // 3 s of a still scene with strong sensor-like noise, then 2 s of a pattern panning sideways, at 10 fps, H.264 like a camera.
  ffmpeg([
    '-f', 'lavfi', '-i', 'color=c=0x808080:size=320x240:rate=10:duration=3,noise=alls=6:allf=t',
    '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=10:duration=2,scroll=horizontal=0.03',
    '-filter_complex', '[0:v][1:v]concat=n=2:v=1[v]', '-map', '[v]', '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'ultrafast', clip,
  ]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('motion gate on decoded video frames (real ffmpeg)', () => {
  it.each([false, true])('skips the still, noisy part except forced inferences, and infers every frame of the moving part (gbrp planes: %s)', async (planar) => {
    const src = createSource(sourceSchema.parse({ type: 'file', path: clip, pace: 'fast', loop: false }), { input: testInput({ shape: [1, 3, 240, 320] }), mode: 'lossless', planar });
    await src.start();
    const frames = await take(src, 100);
    await src.stop();
    expect(frames).toHaveLength(50);
    expect(frames[0]!.format).toBe(planar ? 'gbrp' : 'rgb24');
    // Media time as the clock, as the pipeline would see a camera at 10 fps.
    const clock = { t: 0, now: () => clock.t, wall: () => clock.t };
    const gate = createMotionGate({ enabled: true, threshold: 2, forceEveryMs: 1000 }, clock);
    const decisions = frames.map((f) => {
      clock.t = f.ptsMs;
      const d = gate(f);
      if (process.env.H8_DEBUG) console.log(f.seq, gate.stats().lastDifference.toFixed(2));
      return d;
    });
    const still = decisions.slice(0, 30);
    const moving = decisions.slice(31);
    // Still part: the first frame and one forced inference per second (t = 0, 1000, 2000).
    expect(still.filter(Boolean)).toHaveLength(3);
    expect(moving.every(Boolean)).toBe(true);
    const s = gate.stats();
    expect(s.skipped).toBe(27);
    expect(s.forced).toBe(2);
  });
});
