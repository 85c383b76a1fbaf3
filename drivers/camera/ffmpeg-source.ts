import type { ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { AgentError } from '../../agent/errors.js';
import type { Logger } from '../../agent/log.js';
import { silentLogger } from '../../agent/log.js';
import type { ManifestInput } from '../../agent/model/manifest-schema.js';
import { FrameSlot } from '../../agent/pipeline/frame-slot.js';
import { computeGeometry, ffmpegFilter, inputSize } from '../../agent/preprocess/geometry.js';
import { systemClock, type Clock, type Frame, type FrameSource, type Geometry, type SourceStats } from '../../agent/types.js';
import type { SourceConfig } from '../../agent/config/sections/source.js';
import { Backoff } from './backoff.js';
import { RawFrameReader } from './raw-reader.js';
import { defaultSpawner, ffprobe, requireTool, type Spawner } from './tools.js';

export type FfmpegSourceConfig = Extract<SourceConfig, { type: 'file' | 'rtsp' | 'v4l2' | 'pipeline' }>;

export interface SourceOptions {
  /** The model's input contract: frames are delivered at its size, colour order and letterbox. */
  input: ManifestInput;
  /** latest: drop frames the pipeline has no time for (cameras); lossless: pause the decoder instead (--until-eof). */
  mode: 'latest' | 'lossless';
  log?: Logger;
  clock?: Clock;
  spawner?: Spawner;
}

/**
 * Frames from ffmpeg: video files, RTSP/HTTP streams, V4L2 cameras and user-given ffmpeg inputs. ffmpeg decodes,
 * scales to the model input and converts colour in its own process, so the agent receives ready frames.
 * Live sources that exit or stall are restarted with backoff and jitter; the agent never exits because a camera
 * went away. Files end (or loop); a file that stops decoding part-way is an error with ffmpeg's reason.
 */
export class FfmpegSource implements FrameSource {
  readonly type: string;
  private readonly slot: FrameSlot;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly spawner: Spawner;
  private readonly backoff: Backoff;
  private child: ChildProcess | undefined;
  private geom: Geometry | undefined;
  private nominalFps: number | undefined;
  private totalFrames: number | undefined;
  private seq = 0;
  private loops = 0;
  private framesIn = 0;
  private restarts = 0;
  private stopping = false;
  private lastFrameMono = 0;
  private stallTimer: NodeJS.Timeout | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private stderrTail: string[] = [];

  constructor(
    private readonly cfg: FfmpegSourceConfig,
    private readonly opts: SourceOptions,
  ) {
    this.type = cfg.type;
    this.slot = new FrameSlot(opts.mode);
    this.log = (opts.log ?? silentLogger).child({ component: 'source', source: cfg.type });
    this.clock = opts.clock ?? systemClock;
    this.spawner = opts.spawner ?? defaultSpawner;
    this.backoff = new Backoff(cfg.restart.minMs, cfg.restart.maxMs);
  }

  describe(): string {
    const what = this.cfg.type === 'file' ? this.cfg.path : this.cfg.type === 'rtsp' ? redactUrl(this.cfg.url) : this.cfg.type === 'v4l2' ? this.cfg.device : `ffmpeg ${this.cfg.pipeline}`;
    const g = this.geom;
    const size = g ? ` ${g.srcWidth}x${g.srcHeight}` : '';
    const fps = this.nominalFps ? ` @ ${Math.round(this.nominalFps * 100) / 100} fps` : '';
    return `${this.cfg.type} ${what}${size}${fps}`;
  }

  private get live(): boolean {
    return this.cfg.type !== 'file';
  }

  async start(): Promise<void> {
    requireTool('ffmpeg', `the ${this.cfg.type} source`);
    const { width, height } = inputSize(this.opts.input);
    let srcW = width;
    let srcH = height;
    if (this.cfg.type === 'file') {
      const path = this.cfg.path;
      if (!existsSync(path)) throw new AgentError('SOURCE_NOT_FOUND', `video file ${path} does not exist`, { fix: 'check source.path in the config or --source' });
      if (!statSync(path).isFile()) throw new AgentError('SOURCE_NOT_FOUND', `${path} is not a file`, { fix: 'give the path of a video file' });
      const p = await ffprobe(path, [], this.spawner);
      srcW = p.width;
      srcH = p.height;
      this.nominalFps = p.fps;
      this.totalFrames = p.frames;
    } else if (this.cfg.type === 'v4l2') {
      srcW = this.cfg.width;
      srcH = this.cfg.height;
      this.nominalFps = this.cfg.fps;
    } else if (this.cfg.type === 'pipeline') {
      srcW = this.cfg.width;
      srcH = this.cfg.height;
      this.nominalFps = this.cfg.fps;
    } else if (this.opts.input.resize === 'letterbox') {
      // A letterbox needs the stream's own size; a stream that is down now is retried like any live source.
      const p = await ffprobe(this.cfg.url, ['-rw_timeout', '5000000'], this.spawner).catch(() => undefined);
      if (p) {
        srcW = p.width;
        srcH = p.height;
        this.nominalFps = p.fps;
      }
    }
    this.geom = computeGeometry(srcW, srcH, width, height, this.opts.input.resize, this.opts.input.letterboxAlign);
    this.spawnDecoder();
    if (this.live) {
      this.stallTimer = setInterval(() => this.checkStall(), Math.min(1000, this.cfg.restart.stallMs / 2));
      this.stallTimer.unref();
    }
  }

  geometry(): Geometry {
    if (!this.geom) throw new AgentError('INTERNAL', 'source geometry asked before start()');
    return this.geom;
  }

  fps(): number | undefined {
    return this.nominalFps;
  }

  /** Frames in the file, when the container says (for progress). */
  frameCount(): number | undefined {
    return this.totalFrames;
  }

  stats(): SourceStats {
    return { framesIn: this.framesIn, framesDropped: this.slot.dropped, restarts: this.restarts };
  }

  next(): Promise<Frame | null> {
    return this.slot.take();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.stallTimer);
    clearTimeout(this.restartTimer);
    const child = this.child;
    this.child = undefined;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((res) => child.once('close', () => res()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(t);
    }
    this.slot.end();
  }

  private inputArgs(): string[] {
    const c = this.cfg;
    switch (c.type) {
      case 'file':
        return [...(c.pace === 'realtime' ? ['-re'] : []), '-i', c.path];
      case 'rtsp':
        return c.url.startsWith('rtsp')
          ? ['-rtsp_transport', c.transport, '-timeout', '5000000', '-i', c.url]
          : ['-rw_timeout', '5000000', '-reconnect', '1', '-i', c.url];
      case 'v4l2':
        return ['-f', 'v4l2', '-input_format', c.pixelFormat, '-video_size', `${c.width}x${c.height}`, '-framerate', String(c.fps), '-i', c.device];
      case 'pipeline':
        return splitArgs(c.pipeline);
    }
  }

  private spawnDecoder(): void {
    const g = this.geom!;
    const channels = 3;
    const frameBytes = g.width * g.height * channels;
    const args = [
      '-hide_banner', '-nostdin', '-loglevel', 'error',
      ...this.inputArgs(),
      '-an', '-sn', '-dn',
      '-vf', ffmpegFilter(g, this.opts.input.color, this.opts.input.padValue),
      '-fps_mode', 'passthrough',
      '-f', 'rawvideo', 'pipe:1',
    ];
    this.log.debug({ args }, 'starting ffmpeg');
    const child = this.spawner('ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.stderrTail = [];
    this.lastFrameMono = this.clock.now();
    const stdout = child.stdout!;
    const reader = new RawFrameReader(frameBytes, (data) => {
      const now = this.clock.now();
      this.lastFrameMono = now;
      this.framesIn++;
      this.backoff.reset();
      const seq = this.seq++;
      const fps = this.nominalFps;
      const ptsMs = this.live || !fps ? now : ((this.loops * (this.totalFrames ?? seq + 1)) + seq) * (1000 / fps);
      const frame: Frame = { seq, captureMono: now, captureWall: this.clock.wall(), ptsMs, width: g.width, height: g.height, format: this.opts.input.color === 'BGR' ? 'bgr24' : 'rgb24', data };
      if (!this.slot.offer(frame) && this.opts.mode === 'lossless') {
        stdout.pause();
        this.slot.whenTaken(() => stdout.resume());
      }
    });
    reader.attach(stdout);
    child.stderr!.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n')) if (line.trim()) this.stderrTail.push(line.trim());
      if (this.stderrTail.length > 20) this.stderrTail.splice(0, this.stderrTail.length - 20);
    });
    child.on('error', (err) => {
      this.log.error({ err }, 'ffmpeg could not be started');
    });
    child.on('close', (code, signal) => {
      if (this.child !== child) return; // a replaced or stopped decoder
      this.child = undefined;
      if (this.stopping) return;
      const why = this.stderrTail.at(-1) ?? (signal ? `killed by ${signal}` : `exit status ${code}`);
      if (!this.live) {
        if (code === 0 && this.cfg.type === 'file' && this.cfg.loop) {
          this.loops++;
          this.totalFrames = this.seq;
          this.seq = 0;
          this.spawnDecoder();
          return;
        }
        if (code === 0) {
          if (this.framesIn === 0) this.slot.fail(new AgentError('SOURCE_CORRUPT', `${this.describe()}: ffmpeg decoded no frame`, { fix: 'check that the file is a playable video' }));
          else this.slot.end();
          return;
        }
        this.slot.fail(new AgentError('SOURCE_CORRUPT', `${this.describe()}: decoding failed after ${this.seq} frames (${why})`, { fix: 'the video is damaged or truncated: re-encode or replace it' }));
        return;
      }
      this.scheduleRestart(`decoder exited (${why})`);
    });
  }

  private checkStall(): void {
    if (!this.child || this.stopping) return;
    const idle = this.clock.now() - this.lastFrameMono;
    if (idle > this.cfg.restart.stallMs) {
      this.log.warn({ idleMs: Math.round(idle) }, 'no frame for too long: restarting the source');
      const child = this.child;
      this.child = undefined;
      child.kill('SIGKILL');
      this.scheduleRestart(`no frame for ${Math.round(idle)} ms`);
    }
  }

  private scheduleRestart(reason: string): void {
    const delay = this.backoff.next();
    this.restarts++;
    this.log.warn({ reason, delayMs: delay, attempt: this.backoff.attempts }, `source lost (${reason}); restarting in ${delay} ms`);
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      if (!this.stopping) this.spawnDecoder();
    }, delay);
    this.restartTimer.unref();
  }
}

/** Splits a command-line string into arguments, honouring single and double quotes. */
export function splitArgs(s: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s))) out.push(m[1] ?? m[2] ?? m[3]!);
  return out;
}

/** Hides a password in a URL for logs. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@');
}
