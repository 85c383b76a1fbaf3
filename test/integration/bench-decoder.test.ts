import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cameraCapture } from '../../agent/cameras/runtime.js';
import { sourceSchema } from '../../agent/config/sections/source.js';
import { createSource } from '../../drivers/camera/index.js';
import { defaultSpawner, type Spawner } from '../../drivers/camera/tools.js';
import { agentDecoder, decodeAlone, looping } from '../../scripts/bench/decoder.js';
import { formatCamerasTable, type CamerasBenchResult } from '../../scripts/bench/cameras.js';
import { ffmpeg, take, testInput } from '../fixtures/cameras/helpers.js';

let dir: string;
let clip: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bench-decoder-'));
  clip = join(dir, 'clip.mp4');
  // 12 frames at 10 fps, 160x120.
  ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10', '-frames:v', '12', '-pix_fmt', 'yuv420p', '-c:v', 'mpeg4', '-q:v', '3', clip]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the benchmarks time the agent's own decoder (real ffmpeg)", () => {
  it('the command is the one a camera source spawns with the same options, and x2 decodes the clip twice', async () => {
    const input = testInput();
    const d = await agentDecoder(clip, input, 1, 'worker');
    // What the source really runs, recorded from its spawner.
    const spawned: Array<{ cmd: string; args: string[] }> = [];
    const spawner: Spawner = (cmd, args, opts) => {
      if (cmd === 'ffmpeg') spawned.push({ cmd, args });
      return defaultSpawner(cmd, args, opts);
    };
    const capture = cameraCapture(1, input, 'worker');
    const src = createSource(sourceSchema.parse({ type: 'file', path: clip, pace: 'fast', loop: false }), { ...capture, mode: 'lossless', spawner });
    await src.start();
    const frames = await take(src, 100);
    await src.stop();
    expect(spawned).toEqual([{ cmd: d.cmd, args: d.args }]);
    expect(d.decoderThreads).toBe(capture.decoderThreads);
    expect(frames[0]!.format).toBe('gbrp'); // an NCHW model: planar frames, from the same command
    expect(d.args.some((a) => a.includes('format=gbrp'))).toBe(true);
    expect(d.frames).toBe(12);
    expect(frames).toHaveLength(12);
    const loop = looping(d.args);
    const i = loop.indexOf('-i');
    expect(loop.slice(i - 2, i + 2)).toEqual(['-stream_loop', '-1', '-i', clip]);
    expect(loop.filter((a) => a !== '-stream_loop' && a !== '-1')).toEqual(d.args);

    const run = await decodeAlone(d, 2);
    expect(run).toMatchObject({ streams: 2, frames: 24 });
    expect(run.fps).toBeGreaterThan(0);
    expect(run.cpuMsPerFrame).toBeGreaterThanOrEqual(0);
  });
});

describe('the cameras table shows its arithmetic and says PASS or FAIL as measured', () => {
  const base = (fourFps: number, decodeMs: number): CamerasBenchResult => {
    const bare = { variant: 'student-int8', accelerator: 'cpu', thread: 'worker' as const, threadReason: 'auto', intraOpThreads: 1, depth: 2, pinnedCpu: 1, calls: 8000, fps: 800, cpuMsPerCall: 1.25 };
    const run = (cameras: number, fps: number) => ({ cameras, mode: 'lossless' as const, variant: 'student-int8', frames: Object.fromEntries(Array.from({ length: cameras }, (_, i) => [`cam${i + 1}`, 354])), fps, seconds: 2, peakRssMb: 140, agentCpuMsPerFrame: 2.25, loopThreadCpuMsPerFrame: 0.5, decoderCpuMsPerFrame: decodeMs });
    const loopMs = 1;
    const ceiling = (cameras: number, fps: number) => ({ cameras, cpus: 2, decodeMs, inferenceMs: 1.25, loopMs, fps: 2000 / (decodeMs + 1.25 + loopMs), zeroLoopFps: 2000 / (decodeMs + 1.25), bareCpuFps: 800, ofCeiling: fps / (2000 / (decodeMs + 1.25 + loopMs)) });
    return {
      bare,
      decode: { cmd: 'ffmpeg', args: ['-i', 'clip.mp4'], decoderThreads: 1, runs: [{ streams: 1, frames: 354, seconds: 1, fps: 354, cpuMsPerFrame: decodeMs }, { streams: 4, frames: 1416, seconds: 2, fps: 708, cpuMsPerFrame: decodeMs }] },
      runs: [run(1, 300), run(4, fourFps), { ...run(4, 100), mode: 'live', frames: { cam1: 100, cam2: 90, cam3: 100, cam4: 80 } }],
      ceilings: [ceiling(1, 300), ceiling(4, fourFps)],
      cpu: 'test CPU (2 CPUs)',
      loadavg: [1, 1, 1],
    };
  };

  it('CPU decoding that leaves no room: FAIL, and the line says the target is out of reach here', () => {
    const t = formatCamerasTable(base(400, 2.0));
    // 2 CPUs / (2.00 + 1.25 + 1.00) ms = 470.6 fps; 400 of it is 85%.
    expect(t).toContain('CPU ceiling, 4 cameras: 2 CPUs / (decode 2.00 + inference 1.25 + agent loop 1.00 ms/frame) = 470.6 fps; the agent reaches 85% of it (400.0 fps); with a loop that cost nothing: 615.4 fps');
    expect(t).toContain('target: 4 cameras aggregate >= 90% of the bare model: FAIL (400.0 of 800.0 fps = 50%)');
    // 615.4 / 800 = 77% < 90%.
    expect(t).toMatch(/= 77% of it: the target is out of reach on this machine with CPU decoding/);
    expect(t).toContain('target: each camera served within 25% of the others (live): PASS (20%)');
    expect(t).toContain('bare model: student-int8, worker thread, 1 intra-op, 2 in flight');
  });

  it('a cheap decoder and a fast loop: PASS, within reach', () => {
    const t = formatCamerasTable(base(760, 0.5));
    expect(t).toContain('target: 4 cameras aggregate >= 90% of the bare model: PASS (760.0 of 800.0 fps = 95%)');
    expect(t).toContain('the target is within reach here');
  });
});
