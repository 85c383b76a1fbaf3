/**
 * Writes a field scene: DIR/field.mp4 (rgb24 frames piped into a real ffmpeg, H.264, as the conveyor generator
 * does) and DIR/truth.json, each under a temporary name and renamed.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AgentError, messageOf } from '../../agent/errors.js';
import { FIELD_GENERATOR_VERSION, type FieldOptions, generateField } from './scene.js';
import { renderField } from './render.js';
import { type FieldTruth, fieldTruth } from './truth.js';

export interface WriteFieldOptions extends FieldOptions {
  ffmpeg?: string;
}

export interface WrittenField {
  video: string;
  truth: string;
  summary: FieldTruth;
}

export async function writeField(outDir: string, opts: WriteFieldOptions): Promise<WrittenField> {
  const dir = resolve(outDir);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new AgentError('OUTPUT_FAILED', `cannot create output folder ${dir} (${messageOf(err)})`, { fix: 'choose a writable --out folder' });
  }
  const scene = generateField(opts);
  const video = join(dir, 'field.mp4');
  const tmp = join(dir, `.field.${process.pid}.tmp.mp4`);
  await encode(scene.width, scene.height, scene.fps, scene.frames, (t) => renderField(scene, t), tmp, opts.ffmpeg ?? 'ffmpeg');
  renameSync(tmp, video);
  const truth = fieldTruth(scene);
  const truthFile = join(dir, 'truth.json');
  const tmpTruth = `${truthFile}.${process.pid}.tmp`;
  writeFileSync(tmpTruth, `${JSON.stringify(truth)}\n`);
  renameSync(tmpTruth, truthFile);
  return { video, truth: truthFile, summary: truth };
}

/** The scene of `seed` in `dir`, written unless already there from this generator version. */
export async function ensureField(dir: string, seed: number, hours = 24): Promise<{ video: string; truth: string; written: boolean }> {
  const video = join(dir, 'field.mp4');
  const truth = join(dir, 'truth.json');
  try {
    const t = JSON.parse(readFileSync(truth, 'utf8')) as Partial<FieldTruth>;
    if (t.generator === FIELD_GENERATOR_VERSION && t.seed === seed && t.frames === Math.round((hours * 60) / (t.minutesPerFrame ?? 5)) && existsSync(video)) {
      return { video, truth, written: false };
    }
  } catch {
    /* absent or unreadable: write it */
  }
  await writeField(dir, { seed, hours });
  return { video, truth, written: true };
}

/**
 * Pipes frames into ffmpeg: libx264 at crf 20 (the picture is small; the leaves' colour is the signal), a
 * keyframe every second of clip.
 */
async function encode(width: number, height: number, fps: number, frames: number, render: (t: number) => Uint8Array, out: string, ffmpeg: string): Promise<void> {
  const args = [
    '-v', 'error', '-y',
    '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${width}x${height}`, '-r', String(fps), '-i', '-',
    '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-crf', '20', '-g', String(fps),
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
      if (!child.stdin.write(render(t))) {
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
