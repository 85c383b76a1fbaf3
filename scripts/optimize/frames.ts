import { readdirSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { AgentError, messageOf } from '../../agent/errors.js';
import type { ManifestInput } from '../../agent/model/manifest-schema.js';
import { computeGeometry, ffmpegFilter, inputSize } from '../../agent/preprocess/geometry.js';
import { TensorPacker } from '../../agent/preprocess/tensor.js';
import type { Geometry, PixelFormat } from '../../agent/types.js';
import { defaultSpawner, ffprobe, requireTool, type Spawner } from '../../drivers/camera/tools.js';
import { ffmpegPixelFormat } from '../../drivers/camera/plans/output.js';
import { FileDriver } from '../../drivers/camera/plans/ffmpeg.js';
import { fileSourceSchema } from '../../agent/config/sections/source.js';

/**
 * Calibration and evaluation frames, preprocessed exactly as the agent does at run time: ffmpeg scales (the
 * manifest's input.resizeFilter), letterboxes and converts colour (agent/preprocess/geometry.ts builds the same filter the camera
 * sources use; gbrp planes from videos and cameras for an NCHW model, packed RGB from image folders, as the agent's
 * sources; a video file through the agent's own file source driver), and the agent's TensorPacker applies layout, mean/std and dtype.
 */

export interface ModelFrame {
  /** Where it came from: "face.jpg", "face.jpg (hflip)", "conveyor.mp4 #12". */
  name: string;
  /** Frame index in a video source (for matching ground truth); undefined for images. */
  index?: number;
  geometry: Geometry;
  tensor: { data: Float32Array; dims: number[] };
}

export const imageExtensions = new Set(['.jpg', '.jpeg', '.png', '.bmp']);

export interface FrameOptions {
  spawner?: Spawner;
  /** Also derive a mirror image and two 75% crops from every picture (4 frames per image). */
  augment?: boolean;
  /** Called after each picture (folders) or once the frames are read (sources): (done, total). */
  progress?: (done: number, total: number) => void;
}

/** All images of a folder (sorted by name), as model input tensors. */
export async function framesFromFolder(dir: string, input: ManifestInput, opts: FrameOptions = {}): Promise<ModelFrame[]> {
  const abs = resolve(dir);
  let names: string[];
  try {
    if (!statSync(abs).isDirectory()) throw new Error('not a folder');
    names = readdirSync(abs).filter((f) => imageExtensions.has(extname(f).toLowerCase())).sort();
  } catch (err) {
    throw new AgentError('SOURCE_NOT_FOUND', `cannot read calibration folder ${abs} (${messageOf(err)})`, { fix: 'give --calibration a readable folder of JPEG/PNG/BMP images' });
  }
  requireTool('ffmpeg', 'decoding calibration images');
  const out: ModelFrame[] = [];
  const packer = new TensorPacker(input, { dtype: 'float32', buffers: 1 });
  opts.progress?.(0, names.length);
  for (const [k, f] of names.entries()) {
    const file = join(abs, f);
    const probe = await ffprobe(file, [], opts.spawner).catch(() => undefined);
    if (!probe) throw new AgentError('IMAGE_INVALID', `${file} is not a readable image`, { fix: 'remove it from the folder or convert it to JPEG/PNG' });
    const crops: Array<{ label: string; pre: string; w: number; h: number }> = [{ label: '', pre: '', w: probe.width, h: probe.height }];
    if (opts.augment) {
      const cw = Math.round(probe.width * 0.75);
      const ch = Math.round(probe.height * 0.75);
      crops.push({ label: ' (hflip)', pre: 'hflip,', w: probe.width, h: probe.height });
      crops.push({ label: ' (crop top-left)', pre: `crop=${cw}:${ch}:0:0,`, w: cw, h: ch });
      crops.push({ label: ' (crop bottom-right)', pre: `crop=${cw}:${ch}:${probe.width - cw}:${probe.height - ch},`, w: cw, h: ch });
    }
    for (const c of crops) {
      const { width, height } = inputSize(input);
      const g = computeGeometry(c.w, c.h, width, height, input.resize, input.letterboxAlign);
      const vf = c.pre + ffmpegFilter(g, input.color, input.padValue, undefined, input.resizeFilter ?? 'area');
      const raw = await runFfmpeg(['-v', 'error', '-i', file, '-vf', vf, '-frames:v', '1', '-f', 'rawvideo', '-'], width * height * 3, 1, opts.spawner);
      out.push({ name: f + c.label, geometry: g, tensor: pack(packer, raw[0]!, input) });
    }
    opts.progress?.(k + 1, names.length);
  }
  return out;
}

/** N frames from a video file, stream or camera URI (evenly spread over a file when its duration is known). */
export async function framesFromSource(uri: string, count: number, input: ManifestInput, opts: FrameOptions & { skip?: number } = {}): Promise<ModelFrame[]> {
  requireTool('ffmpeg', 'reading calibration frames');
  if (isFile(uri)) return framesFromFile(uri, count, input, opts);
  const probe = await ffprobe(uri, [], opts.spawner);
  const { width, height } = inputSize(input);
  const g = computeGeometry(probe.width, probe.height, width, height, input.resize, input.letterboxAlign);
  const total = probe.frames ?? (probe.durationS && probe.fps ? Math.floor(probe.durationS * probe.fps) : undefined);
  // Spread: keep every k-th frame of a finite file so the frames cover the whole clip, not its first second.
  const every = total && total > count ? Math.floor(total / count) : 1;
  const select = every > 1 ? `select='not(mod(n\\,${every}))',` : '';
  const format = ffmpegPixelFormat(input, input.layout === 'NCHW');
  const vf = select + ffmpegFilter(g, input.color, input.padValue, format, input.resizeFilter ?? 'area');
  opts.progress?.(0, count);
  const raws = await runFfmpeg(['-v', 'error', '-i', uri, '-vf', vf, '-fps_mode', 'passthrough', '-frames:v', String(count), '-f', 'rawvideo', '-'], width * height * 3, count, opts.spawner);
  const packer = new TensorPacker(input, { dtype: 'float32', buffers: 1 });
  const base = uri.split('/').pop() ?? uri;
  opts.progress?.(raws.length, raws.length);
  return raws.map((r, i) => ({ name: `${base} #${i * every}`, index: i * every, geometry: g, tensor: pack(packer, r, input, format) }));
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/**
 * N frames spread over a video file, decoded by the agent's own file source driver (drivers/camera/plans/ffmpeg.ts:
 * its probe, and its ffmpeg plan with the decoder options, scale filter, pixel format and planes the agent uses for
 * this model), with only a frame selection put in front of its filter and a frame count after it.
 */
async function framesFromFile(path: string, count: number, input: ManifestInput, opts: FrameOptions): Promise<ModelFrame[]> {
  const spawner = opts.spawner ?? defaultSpawner;
  const driver = new FileDriver(fileSourceSchema.parse({ type: 'file', path, pace: 'fast', loop: false }));
  const probe = await driver.probe(input, spawner);
  const { width, height } = inputSize(input);
  const g = computeGeometry(probe.width, probe.height, width, height, input.resize, input.letterboxAlign);
  const planar = input.layout === 'NCHW';
  const plan = driver.plan(g, input, { planar });
  const total = probe.frames ?? probe.ptsMs?.length;
  const every = total && total > count ? Math.floor(total / count) : 1;
  const args = [...plan.stages[0]!.args];
  const vf = args.indexOf('-vf');
  if (every > 1) args[vf + 1] = `select='not(mod(n\\,${every}))',${args[vf + 1]}`;
  args.splice(args.indexOf('-f', vf), 0, '-frames:v', String(count));
  opts.progress?.(0, count);
  const raws = await runFfmpeg(args, width * height * 3, count, spawner);
  const packer = new TensorPacker(input, { dtype: 'float32', buffers: 1 });
  const format = plan.format ?? ffmpegPixelFormat(input, planar);
  const base = path.split('/').pop() ?? path;
  opts.progress?.(raws.length, raws.length);
  return raws.map((r, i) => ({ name: `${base} #${i * every}`, index: i * every, geometry: g, tensor: pack(packer, r, input, format) }));
}

function pack(packer: TensorPacker, raw: Uint8Array, input: ManifestInput, format?: PixelFormat): { data: Float32Array; dims: number[] } {
  const { width, height } = inputSize(input);
  const t = packer.pack({ data: raw, width, height, format }) as Float32Array;
  return { data: Float32Array.from(t), dims: [...input.shape] };
}

/** Runs ffmpeg writing raw frames to stdout; returns up to `max` frames of `frameBytes` each. */
function runFfmpeg(args: string[], frameBytes: number, max: number, spawner: Spawner = defaultSpawner): Promise<Uint8Array[]> {
  return new Promise((res, rej) => {
    const child = spawner('ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let size = 0;
    let err = '';
    child.stdout!.on('data', (d: Buffer) => {
      chunks.push(d);
      size += d.length;
    });
    child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
    child.on('error', (e) => rej(new AgentError('TOOL_MISSING', `ffmpeg cannot run (${messageOf(e)})`, { fix: 'install ffmpeg' })));
    child.on('close', (code) => {
      const all = Buffer.concat(chunks, size);
      const frames: Uint8Array[] = [];
      for (let o = 0; o + frameBytes <= all.length && frames.length < max; o += frameBytes) frames.push(new Uint8Array(all.subarray(o, o + frameBytes)));
      if (code !== 0 || frames.length === 0) {
        const why = err.trim().split('\n').pop() || `exit ${code}`;
        rej(new AgentError('SOURCE_CORRUPT', `ffmpeg could not decode ${args[args.indexOf('-i') + 1]} (${why})`, { fix: 'check that the file or URI plays with ffmpeg' }));
        return;
      }
      res(frames);
    });
  });
}
