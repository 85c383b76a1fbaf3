/**
 * Writes a scene to disk: DIR/conveyor.mp4 (rgb24 frames piped into a real ffmpeg, H.264), DIR/truth.json
 * and DIR/boxes.jsonl. Every file is written under a temporary name and renamed, so a reader never sees a
 * half-written clip.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AgentError, messageOf } from '../../agent/errors.js';
import { SCENE_GENERATOR_VERSION, type SceneOptions, type SceneTruth, frameBoxes, generateScene, sceneTruth } from './scene.js';
import { renderFrame } from './render.js';

export interface WriteSceneOptions extends SceneOptions {
  /** ffmpeg binary (default "ffmpeg" on PATH). */
  ffmpeg?: string;
  /**
   * Keep only every n-th frame (default 1): a time-lapse clip for training data, where many different parts
   * matter more than many views of each. boxes.jsonl then has one line per kept frame (with its original
   * frame number) and truth.json gets "sampledEvery".
   */
  every?: number;
}

export interface WrittenScene {
  video: string;
  truth: string;
  boxes: string;
  summary: SceneTruth;
}

function writeAtomic(file: string, data: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

/**
 * The scene of `seed` in `dir`, written unless it is already there from this version of the generator (a clip
 * from an older version is replaced). Returns the clip's path and whether it was written now.
 */
export async function ensureScene(dir: string, seed: number, extra: Omit<WriteSceneOptions, 'seed'> = {}): Promise<{ video: string; written: boolean }> {
  const video = join(dir, 'conveyor.mp4');
  try {
    const t = JSON.parse(readFileSync(join(dir, 'truth.json'), 'utf8')) as Partial<SceneTruth>;
    if (t.generator === SCENE_GENERATOR_VERSION && t.seed === seed && existsSync(video)) return { video, written: false };
  } catch {
    /* absent or unreadable: write it */
  }
  await writeScene(dir, { ...extra, seed });
  return { video, written: true };
}

export async function writeScene(outDir: string, opts: WriteSceneOptions): Promise<WrittenScene> {
  const dir = resolve(outDir);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new AgentError('OUTPUT_FAILED', `cannot create output folder ${dir} (${messageOf(err)})`, { fix: 'choose a writable --out folder' });
  }
  const scene = generateScene(opts);
  const video = join(dir, 'conveyor.mp4');
  const tmpVideo = join(dir, `.conveyor.${process.pid}.tmp.mp4`);
  const every = opts.every ?? 1;
  const kept: number[] = [];
  for (let t = 0; t < scene.frames; t += every) kept.push(t);
  await encode(scene.width, scene.height, scene.fps, kept.length, (k, buf) => renderFrame(scene, kept[k]!, buf), tmpVideo, opts.ffmpeg ?? 'ffmpeg');
  renameSync(tmpVideo, video);

  const truth: SceneTruth & { sampledEvery?: number } = sceneTruth(scene);
  if (every > 1) truth.sampledEvery = every;
  const truthFile = join(dir, 'truth.json');
  writeAtomic(truthFile, `${JSON.stringify(truth, null, 1)}\n`);
  const lines: string[] = [];
  for (const t of kept) lines.push(JSON.stringify(frameBoxes(scene, t)));
  const boxesFile = join(dir, 'boxes.jsonl');
  writeAtomic(boxesFile, `${lines.join('\n')}\n`);
  return { video, truth: truthFile, boxes: boxesFile, summary: truth };
}

/**
 * Pipes rendered frames into ffmpeg (libx264, yuv420p, crf 23, a keyframe every second). crf 23 (libx264's
 * default) gives ~1.2 Mbit/s at 640x480/15 fps, what an IP or USB camera's own encoder sends; crf 18 kept the
 * rendered sensor noise and made a 5.8 Mbit/s stream whose decoding (7 ms a frame here) cost more than the model.
 * The veryfast preset encodes about 4x faster than the default at the same quality level (crf), which matters
 * because tests and training render many scenes.
 */
async function encode(
  width: number,
  height: number,
  fps: number,
  frames: number,
  render: (t: number, buf: Uint8Array) => Uint8Array,
  out: string,
  ffmpeg: string,
): Promise<void> {
  const args = [
    '-v', 'error', '-y',
    '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${width}x${height}`, '-r', String(fps), '-i', '-',
    '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-crf', '23', '-g', String(fps),
    out,
  ];
  const child = spawn(ffmpeg, args, { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  const exited = new Promise<number>((res, rej) => {
    child.on('error', rej);
    child.on('close', (code) => res(code ?? -1));
  });
  exited.catch(() => undefined);
  try {
    for (let t = 0; t < frames; t++) {
      // A fresh buffer per frame: the stream may hold it until ffmpeg has read it.
      const buf = render(t, new Uint8Array(width * height * 3));
      if (!child.stdin.write(buf)) {
        await new Promise<void>((res, rej) => {
          const onDrain = () => {
            child.stdin.off('error', rej);
            res();
          };
          child.stdin.once('drain', onDrain);
          child.stdin.once('error', rej);
          exited.then(() => res(), rej);
        });
      }
      if (child.exitCode !== null) break;
    }
    child.stdin.end();
    const code = await exited;
    if (code !== 0) {
      throw new AgentError('OUTPUT_FAILED', `ffmpeg failed writing ${out} (exit ${code}): ${stderr.trim().split('\n').pop() ?? ''}`, {
        fix: 'check that ffmpeg has libx264 and the folder is writable',
      });
    }
  } catch (err) {
    rmSync(out, { force: true });
    if (err instanceof AgentError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new AgentError('TOOL_MISSING', `ffmpeg not found (${ffmpeg})`, { fix: 'install ffmpeg (sudo apt-get install ffmpeg)' });
    }
    throw new AgentError('OUTPUT_FAILED', `writing ${out} failed: ${messageOf(err)}`, { fix: 'check ffmpeg and the output folder' });
  }
}
