/**
 * The agent's own decoder, timed apart from the agent: the command comes from the camera driver's plan for a file
 * source with the options a camera opens it with (agent/cameras/runtime.ts cameraCapture), never spelled out here.
 */
import { spawn } from 'node:child_process';
import { AgentError } from '../../agent/errors.js';
import { cameraCapture } from '../../agent/cameras/runtime.js';
import { sourceSchema } from '../../agent/config/sections/source.js';
import type { ManifestInput } from '../../agent/model/manifest-schema.js';
import { captureCommands } from '../../drivers/camera/index.js';
import { childrenCpuMs } from './proc-cpu.js';

export interface AgentDecoder {
  cmd: string;
  args: string[];
  /** Frames in the clip (the container's count). */
  frames: number;
  decoderThreads: number;
}

/** The command the agent runs to decode `video` for a model (`modelThreads` intra-op threads, inference in `inference`). */
export async function agentDecoder(video: string, input: ManifestInput, modelThreads: number, inference: 'worker' | 'main'): Promise<AgentDecoder> {
  const capture = cameraCapture(modelThreads, input, inference);
  const { plan, picture } = await captureCommands(sourceSchema.parse({ type: 'file', path: video, pace: 'fast', loop: false }) as Parameters<typeof captureCommands>[0], capture);
  if (plan.stages.length !== 1) throw new AgentError('INTERNAL', `a file source runs ${plan.stages.length} processes; the bench times one`);
  const { cmd, args } = plan.stages[0]!;
  return { cmd, args, frames: picture.frames ?? 0, decoderThreads: capture.decoderThreads };
}

/** The same command reading its input over and over (`-stream_loop -1` before `-i`). */
export function looping(args: string[]): string[] {
  const i = args.indexOf('-i');
  if (i < 0) throw new AgentError('INTERNAL', 'the decoder command has no -i');
  return [...args.slice(0, i), '-stream_loop', '-1', ...args.slice(i)];
}

export interface DecodeRun {
  streams: number;
  frames: number;
  seconds: number;
  /** Frames decoded per second, all streams together. */
  fps: number;
  /** ffmpeg's CPU (all its threads) per decoded frame. */
  cpuMsPerFrame: number;
}

/**
 * `streams` copies of the agent's decoder at once, each decoding the clip in full to /dev/null (its frames go to
 * fd 1, which here is /dev/null instead of the agent's pipe): what the decoders cost and reach with nothing else.
 */
export async function decodeAlone(d: AgentDecoder, streams: number): Promise<DecodeRun> {
  const kids0 = childrenCpuMs();
  const t0 = performance.now();
  await Promise.all(
    Array.from(
      { length: streams },
      () =>
        new Promise<void>((res, rej) => {
          const child = spawn(d.cmd, d.args, { stdio: ['ignore', 'ignore', 'pipe'] });
          let err = '';
          child.stderr.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-400)));
          child.once('error', rej);
          child.once('close', (code) => (code === 0 ? res() : rej(new AgentError('INTERNAL', `${d.cmd} exited ${code}: ${err.trim()}`))));
        }),
    ),
  );
  const seconds = (performance.now() - t0) / 1000;
  const frames = streams * d.frames;
  return { streams, frames, seconds, fps: frames / seconds, cpuMsPerFrame: (childrenCpuMs() - kids0) / frames };
}
