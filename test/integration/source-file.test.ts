import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sourceSchema } from '../../agent/config/sections/source.js';
import { isAgentError } from '../../agent/errors.js';
import { createSource } from '../../drivers/camera/index.js';
import { ImagesSource, listImages } from '../../drivers/camera/images-source.js';
import { defaultSpawner, type Spawner } from '../../drivers/camera/tools.js';
import type { Frame, FrameSource } from '../../agent/types.js';
import { ffmpeg, meanRgb, take, testInput } from '../fixtures/cameras/helpers.js';

let dir: string;
let clip: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'h8-src-file-'));
  clip = join(dir, 'clip.mp4');
  // 20 frames at 10 fps, 160x120: a clip whose frame count and rate are known.
  ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10', '-frames:v', '20', '-pix_fmt', 'yuv420p', '-c:v', 'mpeg4', '-q:v', '3', clip]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const fileCfg = (over: Record<string, unknown> = {}) => sourceSchema.parse({ type: 'file', path: clip, pace: 'fast', loop: false, ...over });

describe('file source (real ffmpeg)', () => {
  it('lossless: every frame in order with media timestamps, even to a slow consumer, then the end', async () => {
    const src = createSource(fileCfg(), { input: testInput(), mode: 'lossless' });
    await src.start();
    expect(src.describe()).toBe(`file ${clip} 160x120 @ 10 fps`);
    const frames = await take(src, 100, { delayMs: 15 });
    expect(frames.map((f) => f.seq)).toEqual([...Array(20).keys()]);
    expect(frames.map((f) => f.ptsMs)).toEqual([...Array(20).keys()].map((i) => i * 100));
    expect(frames[0]!.data.length).toBe(64 * 48 * 3);
    expect(src.stats()).toEqual({ framesIn: 20, framesDropped: 0, restarts: 0, inputErrors: 0 });
    expect(await src.next()).toBeNull();
    await src.stop();
  });

  it('ffmpeg writes frames into a real pipe (node would give it a socket smaller than a frame), and every frame arrives', async () => {
    const src = createSource(fileCfg(), { input: testInput(), mode: 'lossless' }) as FrameSource & { pids(): number[] };
    await src.start();
    const first = await src.next();
    expect(first!.seq).toBe(0);
    const [pid] = src.pids();
    expect(readlinkSync(`/proc/${pid}/fd/1`)).toMatch(/^pipe:\[\d+\]$/);
    const rest = await take(src, 100);
    expect(rest.map((f) => f.seq)).toEqual([...Array(19).keys()].map((i) => i + 1));
    await src.stop();
  });

  it('frames released by the consumer carry later frames, with the same pixels as frames never released', async () => {
    const read = async (release: boolean): Promise<{ copies: Buffer[]; buffers: Set<Uint8Array> }> => {
      const src = createSource(fileCfg(), { input: testInput(), mode: 'lossless' });
      await src.start();
      const copies: Buffer[] = [];
      const buffers = new Set<Uint8Array>();
      for (let f = await src.next(); f; f = await src.next()) {
        copies.push(Buffer.from(f.data));
        buffers.add(f.data);
        if (release) f.release?.();
      }
      await src.stop();
      return { copies, buffers };
    };
    const kept = await read(false);
    const pooled = await read(true);
    expect(kept.copies).toHaveLength(20);
    expect(kept.buffers.size).toBe(20);
    expect(pooled.buffers.size).toBeLessThanOrEqual(6);
    expect(pooled.copies).toEqual(kept.copies);
  });

  it('latest: a slow consumer gets the newest frame and every replaced frame is counted as dropped', async () => {
    const src = createSource(fileCfg(), { input: testInput(), mode: 'latest' });
    await src.start();
    const frames = await take(src, 100, { delayMs: 60 });
    const seqs = frames.map((f) => f.seq);
    const gaps = seqs.reduce((n, s, i) => n + (i ? s - seqs[i - 1]! - 1 : s), 0);
    const st = src.stats();
    expect(st.framesIn).toBe(20);
    expect(st.framesDropped).toBeGreaterThan(0);
    // Frames never taken are exactly the dropped ones (the last frame is always delivered).
    expect(gaps).toBe(st.framesDropped);
    expect(seqs.at(-1)).toBe(19);
    await src.stop();
  });

  it('an MJPEG file is decoded at reduced size (-lowres) when the model needs at most half, with the same picture', async () => {
    const mj = join(dir, 'clip-mjpeg.avi');
    // 256x192 MJPEG for the 64x48 test input: decodable at 1/4 size (64x48) directly.
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=256x192:rate=10', '-frames:v', '5', '-c:v', 'mjpeg', '-q:v', '3', mj]);
    const read = async (path: string): Promise<{ frames: Frame[]; args: string[][] }> => {
      const args: string[][] = [];
      const spawner: Spawner = (cmd, a, o) => {
        if (cmd === 'ffmpeg') args.push(a);
        return defaultSpawner(cmd, a, o);
      };
      const src = createSource(fileCfg({ path }), { input: testInput(), mode: 'lossless', spawner });
      await src.start();
      const frames = await take(src, 10);
      await src.stop();
      return { frames, args };
    };
    const small = await read(mj);
    expect(small.frames).toHaveLength(5);
    expect(small.args[0]!.slice(small.args[0]!.indexOf('-lowres'), small.args[0]!.indexOf('-i'))).toEqual(['-lowres', '2']);
    // The same pictures decoded in full and scaled down: within a few grey levels on average.
    const full = join(dir, 'clip-full.avi');
    ffmpeg(['-i', mj, '-c:v', 'ffv1', full]);
    const ref = await read(full);
    expect(ref.args[0]).not.toContain('-lowres');
    for (let i = 0; i < 5; i++) {
      const a = small.frames[i]!.data;
      const b = ref.frames[i]!.data;
      let d = 0;
      for (let k = 0; k < a.length; k++) d += Math.abs(a[k]! - b[k]!);
      expect(d / a.length, `frame ${i}`).toBeLessThan(6);
    }
  });

  it('loops with media time continuing across loops, and paces realtime at the file rate', async () => {
    const looped = createSource(fileCfg({ loop: true }), { input: testInput(), mode: 'lossless' });
    await looped.start();
    const f = await take(looped, 45);
    expect(f).toHaveLength(45);
    expect(f[20]!.seq).toBe(0);
    expect(f[44]!.ptsMs).toBe(4400);
    await looped.stop();

    const paced = createSource(fileCfg({ pace: 'realtime' }), { input: testInput(), mode: 'latest' });
    await paced.start();
    const t0 = performance.now();
    const p = await take(paced, 11);
    const ms = performance.now() - t0;
    expect(p).toHaveLength(11);
    // 11 frames at 10 fps: about one second, not the few ms a fast read takes.
    expect(ms).toBeGreaterThan(800);
    await paced.stop();
  });

  it('letterbox: the picture is scaled into the content area and the border has the model pad value', async () => {
    const src = createSource(fileCfg(), { input: testInput({ shape: [1, 3, 64, 64], resize: 'letterbox', padValue: 114 }), mode: 'lossless' });
    await src.start();
    expect(src.geometry()).toEqual({ srcWidth: 160, srcHeight: 120, width: 64, height: 64, padX: 0, padY: 8, contentWidth: 64, contentHeight: 48 });
    const [f] = await take(src, 1);
    expect(meanRgb(f!, 0, 0, 64, 8)).toEqual([114, 114, 114]);
    expect(meanRgb(f!, 0, 56, 64, 8)).toEqual([114, 114, 114]);
    expect(meanRgb(f!, 0, 8, 64, 48)).not.toEqual([114, 114, 114]);
    await src.stop();
  });

  it('planar (NCHW models): gbrp frames, the same pixels as rgb24 with accurate rounding and full chroma interpolation, letterbox included', async () => {
    const input = testInput({ shape: [1, 3, 64, 64], resize: 'letterbox', padValue: 114 });
    const src = createSource(fileCfg(), { input, mode: 'lossless', planar: true });
    await src.start();
    const frames = await take(src, 3);
    await src.stop();
    expect(frames.map((f) => f.format)).toEqual(['gbrp', 'gbrp', 'gbrp']);
    const ref = join(dir, 'ref.rgb');
    ffmpeg(['-i', clip, '-frames:v', '3', '-vf', 'scale=64:48:flags=area+accurate_rnd+full_chroma_int,pad=64:64:0:8:color=0x727272,format=rgb24', '-f', 'rawvideo', ref]);
    const want = readFileSync(ref);
    const n = 64 * 64;
    frames.forEach((f, k) => {
      let off = 0;
      for (let i = 0; i < n; i++) {
        const [r, g, b] = [f.data[2 * n + i]!, f.data[i]!, f.data[n + i]!];
        const o = (k * n + i) * 3;
        if (r !== want[o] || g !== want[o + 1] || b !== want[o + 2]) off++;
      }
      expect(off, `frame ${k}`).toBe(0);
    });
    expect([frames[0]!.data[0], frames[0]!.data[n], frames[0]!.data[2 * n]]).toEqual([114, 114, 114]);
  });

  it('a file that is missing, not a video or truncated before its index fails at start with the reason', async () => {
    const garbage = join(dir, 'garbage.mp4');
    writeFileSync(garbage, Buffer.alloc(50_000, 7));
    const truncated = join(dir, 'truncated.mp4');
    writeFileSync(truncated, readFileSync(clip).subarray(0, 2000));
    for (const [path, code, re] of [
      [join(dir, 'nope.mp4'), 'SOURCE_NOT_FOUND', /does not exist/],
      [garbage, 'SOURCE_CORRUPT', /is not a readable video \(.*Invalid data found/],
      [truncated, 'SOURCE_CORRUPT', /is not a readable video \(.*(moov atom not found|Invalid data)/],
    ] as const) {
      const src = createSource(fileCfg({ path }), { input: testInput(), mode: 'lossless' });
      const err = await src.start().then(() => undefined, (e: unknown) => e);
      expect(isAgentError(err) && err.code).toBe(code);
      expect(String((err as Error).message)).toMatch(re);
      await src.stop();
    }
  });

  it('a stream cut short ends after the frames it has (MPEG-TS truncated mid-way)', async () => {
    const ts = join(dir, 'clip.ts');
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10', '-frames:v', '40', '-c:v', 'mpeg2video', '-g', '5', '-f', 'mpegts', ts]);
    const cut = join(dir, 'cut.ts');
    const b = readFileSync(ts);
    writeFileSync(cut, b.subarray(0, Math.floor(b.length / 2)));
    const src = createSource(fileCfg({ path: cut }), { input: testInput(), mode: 'lossless' });
    await src.start();
    const frames = await take(src, 100);
    expect(frames.length).toBeGreaterThan(5);
    expect(frames.length).toBeLessThan(40);
    expect(await src.next()).toBeNull();
    await src.stop();
  });
});

describe('image folder source (real ffmpeg)', () => {
  let imgDir: string;
  beforeAll(() => {
    imgDir = join(dir, 'images');
    ffmpeg(['-f', 'lavfi', '-i', 'color=c=red:size=160x120', '-frames:v', '1', join(dir, 'x.png')]);
    rmSync(imgDir, { recursive: true, force: true });
    mkdirSync(imgDir);
    ffmpeg(['-f', 'lavfi', '-i', 'color=c=0xff0000:size=160x120', '-frames:v', '1', join(imgDir, 'img1.png')]);
    ffmpeg(['-f', 'lavfi', '-i', 'color=c=0x00ff00:size=160x120', '-frames:v', '1', '-q:v', '2', join(imgDir, 'img2.jpg')]);
    ffmpeg(['-f', 'lavfi', '-i', 'color=c=0x0000ff:size=160x120', '-frames:v', '1', join(imgDir, 'img10.bmp')]);
    writeFileSync(join(imgDir, 'img3.jpg'), Buffer.from('not a jpeg at all'));
    writeFileSync(join(imgDir, 'notes.txt'), 'ignored');
  });

  const imagesCfg = (over: Record<string, unknown> = {}) => sourceSchema.parse({ type: 'images', dir: imgDir, fps: 50, ...over });
  const dominant = (f: { data: Uint8Array; width: number; height: number }) => {
    const [r, g, b] = meanRgb(f as never, 0, 0, f.width, f.height);
    return r > 200 && g < 60 && b < 60 ? 'red' : g > 200 && r < 60 && b < 60 ? 'green' : b > 200 && r < 60 && g < 60 ? 'blue' : `${r},${g},${b}`;
  };

  it('lists JPEG/PNG/BMP in natural name order and skips an undecodable image with a count', async () => {
    expect(listImages(imgDir).map((p) => p.slice(imgDir.length + 1))).toEqual(['img1.png', 'img2.jpg', 'img3.jpg', 'img10.bmp']);
    const src = createSource(imagesCfg(), { input: testInput(), mode: 'lossless' }) as ImagesSource;
    await src.start();
    const frames = await take(src, 10);
    expect(frames.map(dominant)).toEqual(['red', 'green', 'blue']);
    expect(frames.map((f) => f.seq)).toEqual([0, 1, 2]);
    expect(src.stats()).toMatchObject({ framesIn: 3, skipped: 1 });
    await src.stop();
  });

  it('plays at fps and loops', async () => {
    const src = createSource(imagesCfg({ fps: 10, loop: true }), { input: testInput(), mode: 'latest' });
    await src.start();
    const t0 = performance.now();
    const frames = await take(src, 7);
    const ms = performance.now() - t0;
    expect(frames.map(dominant)).toEqual(['red', 'green', 'blue', 'red', 'green', 'blue', 'red']);
    expect(ms).toBeGreaterThan(500);
    await src.stop();
  });

  it('an empty or missing folder is a clear error at start', async () => {
    const empty = join(dir, 'empty');
    mkdirSync(empty, { recursive: true });
    for (const [d, re] of [[empty, /has no \.jpg, \.png or \.bmp file/], [join(dir, 'missing'), /does not exist/]] as const) {
      const err = await createSource(imagesCfg({ dir: d }), { input: testInput(), mode: 'latest' }).start().then(() => undefined, (e: unknown) => e);
      expect(isAgentError(err) && err.code).toBe('SOURCE_NOT_FOUND');
      expect((err as Error).message).toMatch(re);
    }
  });
});

describe('file source: media time from the container (#22 finding 8)', () => {
  it('a clip whose frames are not evenly spaced: each frame carries its own timestamp, not its index at the mean rate', async () => {
    // 10 frames: 100 ms apart, then a 500 ms gap after the fifth (a camera that stuttered while recording).
    const vfr = join(dir, 'vfr.mkv');
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10', '-frames:v', '10', '-vf', 'settb=1/1000,setpts=(N*0.1+gte(N\\,5)*0.5)/TB', '-fps_mode', 'passthrough', '-c:v', 'mpeg4', '-q:v', '3', vfr]);
    const src = createSource(fileCfg({ path: vfr }), { input: testInput(), mode: 'lossless' });
    await src.start();
    const frames = await take(src, 100);
    await src.stop();
    expect(frames.map((f) => f.ptsMs)).toEqual([0, 100, 200, 300, 400, 1000, 1100, 1200, 1300, 1400]);
  });
});
