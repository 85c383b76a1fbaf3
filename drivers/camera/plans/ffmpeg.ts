import { existsSync, statSync } from 'node:fs';
import { AgentError } from '../../../agent/errors.js';
import type { SourceConfig } from '../../../agent/config/sections/source.js';
import type { PlanOptions, ProbedPicture, SourceDriver, SourcePlan } from '../process-source.js';
import { ffprobe, hasTool, probeFramePtsMs, type Spawner } from '../tools.js';
import { checkMode, v4l2Modes } from '../modes.js';
import { parseListFormatsExt, runV4l2Ctl } from '../v4l2-devices.js';
import type { Geometry } from '../../../agent/types.js';
import type { ManifestInput } from '../../../agent/model/manifest-schema.js';
import { inputSize } from '../../../agent/core/geometry.js';
import { ffmpegGlobalArgs, ffmpegLayout, ffmpegOutputArgs, ffmpegPixelFormat, mjpegLowresArgs, threadArgs } from './output.js';

type Cfg<T extends SourceConfig['type']> = Extract<SourceConfig, { type: T }>;

/** A video file: played once (or looped), paced at its frame rate or as fast as the pipeline takes frames. */
export class FileDriver implements SourceDriver {
  readonly type = 'file';
  readonly live = false;
  private codec = 'unknown';
  constructor(private readonly cfg: Cfg<'file'>) {}
  get loop(): boolean {
    return this.cfg.loop;
  }
  tools(): string[] {
    return ['ffmpeg', 'ffprobe'];
  }
  what(): string {
    return this.cfg.path;
  }
  async probe(_input: ManifestInput, spawner: Spawner): Promise<ProbedPicture> {
    const path = this.cfg.path;
    if (!existsSync(path)) throw new AgentError('SOURCE_NOT_FOUND', `video file ${path} does not exist`, { fix: 'check source.path in the config or --source' });
    if (!statSync(path).isFile()) throw new AgentError('SOURCE_NOT_FOUND', `${path} is not a file`, { fix: 'give the path of a video file' });
    const p = await ffprobe(path, [], spawner);
    this.codec = p.codec;
    // Each frame's own time in the clip (media time): a replay is decided on it, as is a paced run.
    const ptsMs = await probeFramePtsMs(path, spawner);
    return { width: p.width, height: p.height, fps: p.fps, frames: p.frames, ...(ptsMs ? { ptsMs } : {}) };
  }
  plan(g: Geometry, input: ManifestInput, opts: PlanOptions = {}): SourcePlan {
    const decode = [...(this.codec === 'mjpeg' ? mjpegLowresArgs(g) : []), ...threadArgs(opts)];
    const args = [...ffmpegGlobalArgs, ...(this.cfg.pace === 'realtime' ? ['-re'] : []), ...decode, '-i', this.cfg.path, ...ffmpegOutputArgs(g, input, { planar: opts.planar })];
    return { stages: [{ cmd: 'ffmpeg', args }], layout: ffmpegLayout(g), format: ffmpegPixelFormat(input, opts.planar) };
  }
}

/** RTSP or HTTP(S) stream through ffmpeg; TCP or UDP transport for RTSP; I/O timeouts so a dead server is noticed. */
export class StreamDriver implements SourceDriver {
  readonly type = 'rtsp';
  readonly live = true;
  readonly loop = false;
  constructor(private readonly cfg: Cfg<'rtsp'>) {}
  tools(): string[] {
    return ['ffmpeg', 'ffprobe'];
  }
  what(): string {
    return redactUrl(this.cfg.url);
  }
  async probe(input: ManifestInput, spawner: Spawner): Promise<ProbedPicture> {
    if (this.cfg.width && this.cfg.height) return { width: this.cfg.width, height: this.cfg.height };
    // A letterbox needs the stream's own size; a stream that is down now is retried like any live source.
    if (input.resize === 'letterbox') {
      const p = await ffprobe(this.cfg.url, this.inputOptions(), spawner).catch(() => undefined);
      if (p) return { width: p.width, height: p.height, fps: p.fps };
    }
    const { width, height } = inputSize(input);
    return { width, height };
  }
  /** Options that go before `-i`. */
  inputOptions(): string[] {
    const us = String((this.cfg.timeoutMs ?? 5_000) * 1000);
    if (/^rtsps?:/.test(this.cfg.url)) return ['-rtsp_transport', this.cfg.transport, '-timeout', us];
    return ['-rw_timeout', us, '-reconnect', '1', '-reconnect_streamed', '1', '-reconnect_delay_max', '2'];
  }
  plan(g: Geometry, input: ManifestInput, opts: PlanOptions = {}): SourcePlan {
    // nobuffer/low_delay: hand frames over as soon as they are decoded (latest frame wins, no demuxer backlog;
    // low_delay also turns off frame-threaded decoding, which holds each frame back by one frame per thread).
    const args = [...ffmpegGlobalArgs, '-fflags', 'nobuffer', '-flags', 'low_delay', ...this.inputOptions(), ...threadArgs(opts), '-i', this.cfg.url, ...ffmpegOutputArgs(g, input, { planar: opts.planar })];
    return { stages: [{ cmd: 'ffmpeg', args }], layout: ffmpegLayout(g), format: ffmpegPixelFormat(input, opts.planar) };
  }
}

/** A USB (UVC) or other V4L2 camera through ffmpeg's v4l2 demuxer. */
export class V4l2Driver implements SourceDriver {
  readonly type = 'v4l2';
  readonly live = true;
  readonly loop = false;
  constructor(
    private readonly cfg: Cfg<'v4l2'>,
    private readonly listFormats: (device: string) => string | undefined = (d) => (hasTool('v4l2-ctl') && existsSync(d) ? runV4l2Ctl(d) : undefined),
  ) {}
  tools(): string[] {
    return ['ffmpeg'];
  }
  preflight(): string[] {
    const text = this.listFormats(this.cfg.device);
    if (text === undefined) return [];
    const c = this.cfg;
    const w = checkMode(v4l2Modes(parseListFormatsExt(text), c.pixelFormat), c, { exactSize: true, what: `${c.device} (${c.pixelFormat})` });
    return w ? [`${w}: set source.width/height/fps/pixelFormat to an offered mode (see \`edge-agent doctor\`)`] : [];
  }
  what(): string {
    return this.cfg.device;
  }
  async probe(): Promise<ProbedPicture> {
    return { width: this.cfg.width, height: this.cfg.height, fps: this.cfg.fps };
  }
  plan(g: Geometry, input: ManifestInput, opts: PlanOptions = {}): SourcePlan {
    const c = this.cfg;
    const args = [
      ...ffmpegGlobalArgs,
      '-f', 'v4l2', '-input_format', c.pixelFormat, '-video_size', `${c.width}x${c.height}`, '-framerate', String(c.fps),
      ...(c.pixelFormat === 'mjpeg' ? mjpegLowresArgs(g) : []),
      // An H.264 camera: no frame-threaded decoding, which would hold each frame back by one frame per thread.
      ...(c.pixelFormat === 'h264' ? ['-flags', 'low_delay'] : []),
      ...threadArgs(opts),
      '-i', c.device,
      ...ffmpegOutputArgs(g, input, { planar: opts.planar }),
    ];
    return { stages: [{ cmd: 'ffmpeg', args }], layout: ffmpegLayout(g), format: ffmpegPixelFormat(input, opts.planar) };
  }
}

/** Any ffmpeg input the user writes (the options before the output), e.g. `-f lavfi -i testsrc` or a capture card. */
export class FfmpegPipelineDriver implements SourceDriver {
  readonly type = 'pipeline';
  readonly live = true;
  readonly loop = false;
  constructor(private readonly cfg: Cfg<'pipeline'>) {}
  tools(): string[] {
    return ['ffmpeg'];
  }
  what(): string {
    return `ffmpeg ${redactUrl(this.cfg.pipeline)}`;
  }
  async probe(): Promise<ProbedPicture> {
    return { width: this.cfg.width, height: this.cfg.height, fps: this.cfg.fps };
  }
  plan(g: Geometry, input: ManifestInput, opts: PlanOptions = {}): SourcePlan {
    const user = splitArgs(this.cfg.pipeline);
    // The thread budget goes first: options the user writes come later and win.
    const args = [...ffmpegGlobalArgs, ...threadArgs(opts), ...(user.includes('-i') ? user : ['-i', ...user]), ...ffmpegOutputArgs(g, input, { planar: opts.planar })];
    return { stages: [{ cmd: 'ffmpeg', args }], layout: ffmpegLayout(g), format: ffmpegPixelFormat(input, opts.planar) };
  }
}

/**
 * Splits a command-line string into arguments like a shell: words separated by spaces, where quoted parts (single
 * or double) may contain spaces and are joined to the word they touch (caps="video/x-raw, width=640" is one).
 */
export function splitArgs(s: string): string[] {
  const out: string[] = [];
  for (const m of s.matchAll(/(?:[^\s"']+|"[^"]*"|'[^']*')+/g)) out.push(m[0].replace(/"([^"]*)"|'([^']*)'/g, (_all, d: string | undefined, q: string | undefined) => d ?? q ?? ''));
  return out;
}

/** Hides a password in a URL for logs. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:/@\s]+):[^@/\s]*@/g, '//$1:***@');
}
