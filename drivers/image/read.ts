import { closeSync, existsSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { AgentError } from '../../agent/errors.js';
import { computeGeometry, ffmpegFilter, type ResizeFilter } from '../../agent/core/geometry.js';
import type { Geometry } from '../../agent/types.js';
import { defaultSpawner, requireTool, type Spawner } from '../camera/tools.js';

/** Still images read with ffmpeg: JPEG, PNG and BMP (anything ffmpeg's image2 demuxer decodes works). */
export interface ImageSize {
  width: number;
  height: number;
  codec: string;
}

async function runTool(spawner: Spawner, cmd: string, args: string[], stdin?: Uint8Array): Promise<{ code: number; out: Buffer; err: string }> {
  const child = spawner(cmd, args, { stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  const chunks: Buffer[] = [];
  let err = '';
  child.stdout!.on('data', (d: Buffer) => chunks.push(d));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<number>((res, rej) => {
    child.on('error', rej);
    child.on('close', (c) => res(c ?? 1));
  });
  if (stdin) {
    child.stdin!.on('error', () => undefined); // ffmpeg may exit early on bad input; its status says why
    child.stdin!.end(stdin);
  }
  const code = await done;
  return { code, out: Buffer.concat(chunks), err };
}

function checkFile(file: string): void {
  if (!existsSync(file) || !statSync(file).isFile()) {
    throw new AgentError('SOURCE_NOT_FOUND', `image ${file} does not exist`, { fix: 'give the path of a JPEG, PNG or BMP file' });
  }
}

function notImage(file: string, why: string): AgentError {
  const reason = why.trim().split('\n').filter(Boolean).pop() ?? 'no picture found';
  return new AgentError('IMAGE_INVALID', `${file} is not a readable image (${reason.slice(0, 200)})`, { fix: 'give a JPEG, PNG or BMP file' });
}

function damagedImage(file: string, why: string): AgentError {
  return new AgentError('IMAGE_INVALID', `${file} is damaged or truncated (ffmpeg: ${why.slice(0, 200)})`, { fix: 'copy the image again; a picture cut short cannot be judged' });
}

/**
 * A JPEG must end with its EOI marker (FF D9) and a PNG with its IEND chunk (ITU-T T.81 B.2.1; PNG spec 11.2.5),
 * allowing a little trailing padding; other formats are left to ffmpeg's own errors.
 */
function truncatedContainer(file: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(8);
    readSync(fd, head, 0, 8, 0);
    const tailLen = Math.min(size, 1024);
    const tail = Buffer.alloc(tailLen);
    readSync(fd, tail, 0, tailLen, size - tailLen);
    if (head[0] === 0xff && head[1] === 0xd8) return tail.lastIndexOf(Buffer.from([0xff, 0xd9])) < 0;
    if (head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return tail.lastIndexOf(Buffer.from('IEND')) < 0;
    return false;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Size of a still image, from ffprobe. */
export async function probeImage(file: string, spawner: Spawner = defaultSpawner): Promise<ImageSize> {
  checkFile(file);
  requireTool('ffprobe', 'reading images');
  const r = await runTool(spawner, 'ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height,codec_name', '-of', 'json', file]);
  const s = r.code === 0 ? (JSON.parse(r.out.toString() || '{}') as { streams?: Array<{ width?: number; height?: number; codec_name?: string }> }).streams?.[0] : undefined;
  if (!s?.width || !s.height) throw notImage(file, r.err);
  return { width: s.width, height: s.height, codec: s.codec_name ?? 'unknown' };
}

/**
 * Decodes the image and, in the same ffmpeg pass, scales/letterboxes it to the model input and converts it to
 * packed RGB or BGR: what the image-folder source hands the pipeline (video and camera sources hand an NCHW model
 * gbrp planes, which differ from packed RGB by the chroma interpolation of the YUV conversion).
 */
export async function readImageForModel(
  file: string,
  size: ImageSize,
  input: { width: number; height: number; resize: 'stretch' | 'letterbox'; align: 'center' | 'topleft'; color: 'RGB' | 'BGR'; padValue: number; resizeFilter?: ResizeFilter },
  spawner: Spawner = defaultSpawner,
): Promise<{ data: Uint8Array; geometry: Geometry }> {
  requireTool('ffmpeg', 'reading images');
  const geometry = computeGeometry(size.width, size.height, input.width, input.height, input.resize, input.align);
  const data = await decodeRaw(file, ffmpegFilter(geometry, input.color, input.padValue, undefined, input.resizeFilter ?? 'area'), input.width * input.height * 3, spawner);
  return { data, geometry };
}

/** The picture at its own resolution as packed RGB (for drawing boxes). */
export async function readImageRgb(file: string, size: ImageSize, spawner: Spawner = defaultSpawner): Promise<Uint8Array> {
  requireTool('ffmpeg', 'reading images');
  return decodeRaw(file, 'format=rgb24', size.width * size.height * 3, spawner);
}

async function decodeRaw(file: string, filter: string, bytes: number, spawner: Spawner): Promise<Uint8Array> {
  checkFile(file);
  const r = await runTool(spawner, 'ffmpeg', ['-v', 'error', '-nostdin', '-i', file, '-vf', filter, '-frames:v', '1', '-f', 'rawvideo', 'pipe:1']);
  if (r.code !== 0 || r.out.length !== bytes) throw notImage(file, r.err || `decoded ${r.out.length} bytes, expected ${bytes}`);
  // ffmpeg pads a picture cut short (a JPEG without its end, a PNG without IEND) and exits 0; its decoder says so
  // on stderr ("overread", "EOI missing", "inflate returned error"): a detection on half a picture is not one.
  const damage = r.err.trim().split('\n').filter(Boolean);
  if (damage.length || truncatedContainer(file)) throw damagedImage(file, damage.pop() ?? 'the file ends before the picture does');
  return new Uint8Array(r.out.buffer, r.out.byteOffset, r.out.length);
}

/** Encodes packed RGB as a PNG file with ffmpeg. */
export async function writePng(file: string, rgb: Uint8Array, width: number, height: number, spawner: Spawner = defaultSpawner): Promise<void> {
  requireTool('ffmpeg', 'writing images');
  const r = await runTool(spawner, 'ffmpeg', ['-v', 'error', '-nostdin', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${width}x${height}`, '-i', 'pipe:0', '-frames:v', '1', '-f', 'image2', '-c:v', 'png', file], rgb);
  if (r.code !== 0) {
    throw new AgentError('OUTPUT_FAILED', `cannot write ${file} (${r.err.trim().split('\n').pop() ?? `ffmpeg exit ${r.code}`})`, { fix: 'check that the folder exists and is writable' });
  }
}
