import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { SourceConfig } from '../../agent/config/sections/source.js';
import { AgentError, messageOf } from '../../agent/errors.js';
import type { Logger } from '../../agent/log.js';
import { silentLogger } from '../../agent/log.js';
import { FrameSlot } from './frame-slot.js';
import { computeGeometry, inputSize } from '../../agent/core/geometry.js';
import { systemClock, type Clock, type Frame, type FrameSource, type Geometry, type SourceStats } from '../../agent/types.js';
import type { SourceOptions } from './process-source.js';
import { ffmpegGlobalArgs, ffmpegOutputArgs } from './plans/output.js';
import { defaultSpawner, ffprobe, requireTool, type Spawner } from './tools.js';

type ImagesConfig = Extract<SourceConfig, { type: 'images' }>;

const imageExt = /\.(jpe?g|png|bmp)$/i;

/** JPEG/PNG/BMP files of a folder in name order (numbers compared as numbers: img2 before img10). */
export function listImages(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => imageExt.test(f))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
    .map((f) => join(dir, f));
}

/**
 * A folder of still images played as a camera: each image decoded and scaled by its own short ffmpeg run, handed
 * over at `fps` (or as fast as the pipeline takes them in lossless mode), once or in a loop. The geometry comes
 * from the first image; images of another size are scaled into the same frame. An image that cannot be decoded is
 * logged and skipped, not fatal (one bad file should not stop a test rig).
 */
export class ImagesSource implements FrameSource {
  readonly type = 'images';
  private readonly slot: FrameSlot;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly spawner: Spawner;
  private files: string[] = [];
  private geom: Geometry | undefined;
  private srcSize = '';
  private stopped = false;
  private framesIn = 0;
  private skipped = 0;
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private loopDone: Promise<void> | undefined;

  constructor(
    private readonly cfg: ImagesConfig,
    private readonly opts: SourceOptions,
  ) {
    this.slot = new FrameSlot(opts.mode);
    this.log = (opts.log ?? silentLogger).child({ component: 'source', source: 'images' });
    this.clock = opts.clock ?? systemClock;
    this.spawner = opts.spawner ?? defaultSpawner;
  }

  describe(): string {
    return `images ${this.cfg.dir} (${this.files.length} files${this.srcSize ? `, ${this.srcSize}` : ''} @ ${this.cfg.fps} fps${this.cfg.loop ? ', loop' : ''})`;
  }

  async start(): Promise<void> {
    requireTool('ffmpeg', 'the images source');
    const dir = this.cfg.dir;
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      throw new AgentError('SOURCE_NOT_FOUND', `image folder ${dir} does not exist`, { fix: 'check source.dir in the config' });
    }
    this.files = listImages(dir);
    if (!this.files.length) throw new AgentError('SOURCE_NOT_FOUND', `image folder ${dir} has no .jpg, .png or .bmp file`, { fix: 'put images in the folder or fix source.dir' });
    const first = await ffprobe(this.files[0]!, [], this.spawner);
    this.srcSize = `${first.width}x${first.height}`;
    const { width, height } = inputSize(this.opts.input);
    this.geom = computeGeometry(first.width, first.height, width, height, this.opts.input.resize, this.opts.input.letterboxAlign);
    this.loopDone = this.play().catch((err: unknown) => this.slot.fail(err instanceof Error ? err : new Error(messageOf(err))));
  }

  geometry(): Geometry {
    if (!this.geom) throw new AgentError('INTERNAL', 'source geometry asked before start()');
    return this.geom;
  }

  fps(): number {
    return this.cfg.fps;
  }

  frameCount(): number {
    return this.files.length;
  }

  stats(): SourceStats & { skipped: number } {
    return { framesIn: this.framesIn, framesDropped: this.slot.dropped, restarts: 0, skipped: this.skipped };
  }

  next(): Promise<Frame | null> {
    return this.slot.take();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.wake?.();
    this.slot.end();
  }

  /** Resolves when the playing loop has finished (after the end of the folder, or stop()). */
  finished(): Promise<void> {
    return this.loopDone ?? Promise.resolve();
  }

  private async play(): Promise<void> {
    const period = 1000 / this.cfg.fps;
    const lossless = this.opts.mode === 'lossless';
    let due = this.clock.now();
    let seq = 0;
    let pass = 0;
    while (!this.stopped) {
      let delivered = 0;
      for (const file of this.files) {
        if (this.stopped) return;
        const data = await this.decode(file);
        if (!data) continue;
        if (!lossless) {
          const wait = due - this.clock.now();
          if (wait > 0) await this.sleep(wait);
          due = Math.max(due + period, this.clock.now() - period);
        }
        if (this.stopped) return;
        const now = this.clock.now();
        const g = this.geom!;
        const frame: Frame = {
          seq,
          captureMono: now,
          captureWall: this.clock.wall(),
          ptsMs: seq * period,
          width: g.width,
          height: g.height,
          format: this.opts.input.color === 'BGR' ? 'bgr24' : 'rgb24',
          data,
        };
        seq++;
        delivered++;
        this.framesIn++;
        if (!this.slot.offer(frame) && lossless) await new Promise<void>((res) => this.slot.whenTaken(res));
      }
      pass++;
      if (!delivered) throw new AgentError('SOURCE_CORRUPT', `no image in ${this.cfg.dir} could be decoded`, { fix: 'check that the files are valid JPEG, PNG or BMP images' });
      if (!this.cfg.loop) break;
      this.log.debug({ pass }, 'image folder played; starting again');
    }
    this.slot.end();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((res) => {
      this.wake = res;
      this.timer = setTimeout(res, ms);
    });
  }

  /** One image through ffmpeg: decoded, scaled and converted exactly like video frames. */
  private decode(file: string): Promise<Buffer | undefined> {
    const g = this.geom!;
    const want = g.width * g.height * 3;
    const args = [...ffmpegGlobalArgs, '-i', file, '-frames:v', '1', ...ffmpegOutputArgs(g, this.opts.input)];
    const child = this.spawner('ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let err = '';
    child.stdout!.on('data', (d: Buffer) => chunks.push(d));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    return new Promise((res) => {
      child.on('error', (e) => (err += e.message));
      child.on('close', (code) => {
        const data = Buffer.concat(chunks);
        if (code === 0 && data.length === want) return res(data);
        this.skipped++;
        const why = err.trim().split('\n').pop() || `ffmpeg exit status ${code}, ${data.length} of ${want} bytes`;
        this.log.warn({ file, reason: why }, `image ${file} could not be decoded and is skipped`);
        res(undefined);
      });
    });
  }
}
