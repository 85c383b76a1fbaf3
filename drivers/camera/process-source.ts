import type { ChildProcess } from 'node:child_process';
import { closeSync } from 'node:fs';
import { Socket, type OnReadOpts, type SocketConstructorOpts } from 'node:net';
import type { Readable } from 'node:stream';
import { AgentError } from '../../agent/errors.js';
import type { Logger } from '../../agent/log.js';
import { silentLogger } from '../../agent/log.js';
import type { ManifestInput } from '../../agent/model/manifest-schema.js';
import { FrameSlot } from './frame-slot.js';
import { computeGeometry, inputSize } from '../../agent/core/geometry.js';
import { systemClock, type Clock, type Frame, type FrameSource, type Geometry, type PixelFormat, type SourceStats } from '../../agent/types.js';
import { Backoff } from './backoff.js';
import { explainFailure, isInputDamage } from './failures.js';
import { RawFrameReader, producerFrameBytes, type FrameLayout } from './raw-reader.js';
import { openFramePipe } from './pipe-size.js';
import { defaultSpawner, requireTool, type Spawner } from './tools.js';

export interface SourceOptions {
  /** The model's input contract: frames are delivered at its size, colour order and letterbox. */
  input: ManifestInput;
  /** latest: drop frames the pipeline has no time for (cameras); lossless: pause the decoder instead (--until-eof). */
  mode: 'latest' | 'lossless';
  log?: Logger;
  clock?: Clock;
  spawner?: Spawner;
  /** Jitter source for the restart backoff (tests make it deterministic). */
  random?: () => number;
  /** Threads ffmpeg may decode with (`-threads`, an input option); absent: ffmpeg's own choice (all cores). */
  decoderThreads?: number;
  /** Planar frames (gbrp) where the source can make them: the model takes NCHW. Otherwise packed, in its colour order. */
  planar?: boolean;
}

/** What a plan may take from the source options. */
export type PlanOptions = Pick<SourceOptions, 'decoderThreads' | 'planar'>;

export interface RestartPolicy {
  minMs: number;
  maxMs: number;
  stallMs: number;
  /** Time allowed for the first frame after a (re)start; default max(stallMs, 15 s). */
  startMs?: number;
}

/** One process of a capture chain; chains are piped stdout -> stdin and the last one writes frames. */
export interface ProducerStage {
  cmd: string;
  args: string[];
}

export interface SourcePlan {
  stages: ProducerStage[];
  layout: FrameLayout;
  /** What the frames are (default: packed in the model's colour order). */
  format?: PixelFormat;
}

export interface ProbedPicture {
  width: number;
  height: number;
  fps?: number;
  frames?: number;
  /** Files: each frame's presentation time, ms from the first, in presentation order (the container's timestamps). */
  ptsMs?: number[];
}

/** What differs between sources: which tools, how to find the picture size, which commands to run. */
export interface SourceDriver {
  readonly type: string;
  /** Cameras and streams: restarted when they exit or stall. Files: end, loop, or fail with the reason. */
  readonly live: boolean;
  /** Files only: start again at the end. */
  readonly loop: boolean;
  /** Tools to check at start, each with the feature that needs it (for the error message). */
  tools(): string[];
  /** What is captured, for logs (passwords redacted). */
  what(): string;
  /** The picture's own size and rate (probing a file, or the configured camera mode). */
  probe(input: ManifestInput, spawner: Spawner): Promise<ProbedPicture>;
  plan(geometry: Geometry, input: ManifestInput, opts?: PlanOptions): SourcePlan;
  /** Optional check of the device against the configured mode; returns warnings to log (never fatal: the camera may be absent now). */
  preflight?(): string[];
  /** Optional source-specific reading of the tool's last output lines after a failure. */
  explain?(stderrTail: readonly string[]): string | undefined;
}

/**
 * The capture chain a source of this driver runs (probe, geometry, plan), without running it: the same commands the
 * source spawns, for the benchmarks that time the decoder alone.
 */
export async function planCapture(driver: SourceDriver, opts: Pick<SourceOptions, 'input' | 'decoderThreads' | 'planar' | 'spawner'>): Promise<{ plan: SourcePlan; geometry: Geometry; picture: ProbedPicture }> {
  const picture = await driver.probe(opts.input, opts.spawner ?? defaultSpawner);
  const geometry = geometryOf(picture, opts.input);
  return { plan: driver.plan(geometry, opts.input, planOptions(opts)), geometry, picture };
}

/** Where the picture lands in the model's input (stretched or letterboxed). */
function geometryOf(picture: ProbedPicture, input: ManifestInput): Geometry {
  const { width, height } = inputSize(input);
  return computeGeometry(picture.width, picture.height, width, height, input.resize, input.letterboxAlign);
}

function planOptions(o: PlanOptions): PlanOptions {
  return { decoderThreads: o.decoderThreads, planar: o.planar };
}

/** Damaged-input warnings: at most one a minute (each message is still counted). */
const DAMAGE_WARN_EVERY_MS = 60_000;

export type SourceState = 'idle' | 'starting' | 'streaming' | 'restarting' | 'ended' | 'failed' | 'stopped';

export interface SourceStatus extends SourceStats {
  state: SourceState;
  /** The last failure, in words (for status and doctor). */
  lastError: string | undefined;
  /** Milliseconds since the last frame (undefined before the first). */
  lastFrameAgoMs: number | undefined;
}

/**
 * A frame source backed by a chain of capture processes (ffmpeg, gst-launch-1.0, rpicam-vid | ffmpeg) that write
 * raw frames, already scaled and converted for the model, to a pipe. Live sources that exit or stall are restarted
 * with exponential backoff and jitter; the agent never exits because a camera went away. Finite sources (files)
 * end, loop, or fail with the tool's reason.
 */
export class ProcessSource implements FrameSource {
  readonly type: string;
  private readonly slot: FrameSlot;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly spawner: Spawner;
  private readonly backoff: Backoff;
  private children: ChildProcess[] = [];
  /** What the current chain's frame writer writes into (our own pipe, or its stdout). */
  private frameStream: Readable | undefined;
  private geom: Geometry | undefined;
  private picture: ProbedPicture | undefined;
  private seq = 0;
  private loops = 0;
  private framesInRun = 0;
  private framesIn = 0;
  private restarts = 0;
  private state: SourceState = 'idle';
  private lastError: string | undefined;
  private lastFrameMono: number | undefined;
  private runStartMono = 0;
  private stallTimer: NodeJS.Timeout | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private stderrTail: string[] = [];
  /** Decoder messages saying the input is damaged or truncated (failures.isInputDamage), and the last warning's time. */
  private inputErrors = 0;
  private damageWarnedMono: number | undefined;
  private deferredExit: (() => void) | undefined;

  constructor(
    private readonly driver: SourceDriver,
    private readonly restart: RestartPolicy,
    private readonly opts: SourceOptions,
  ) {
    this.type = driver.type;
    this.slot = new FrameSlot(opts.mode);
    this.log = (opts.log ?? silentLogger).child({ component: 'source', source: driver.type });
    this.clock = opts.clock ?? systemClock;
    this.spawner = opts.spawner ?? defaultSpawner;
    this.backoff = new Backoff(restart.minMs, restart.maxMs, opts.random);
  }

  describe(): string {
    const p = this.picture;
    const size = p ? ` ${p.width}x${p.height}` : '';
    const fps = p?.fps ? ` @ ${Math.round(p.fps * 100) / 100} fps` : '';
    return `${this.driver.type} ${this.driver.what()}${size}${fps}`;
  }

  async start(): Promise<void> {
    for (const t of this.driver.tools()) requireTool(t, `the ${this.driver.type} source`);
    this.state = 'starting';
    for (const w of this.driver.preflight?.() ?? []) this.log.warn(w);
    this.picture = await this.driver.probe(this.opts.input, this.spawner);
    this.geom = geometryOf(this.picture, this.opts.input);
    this.spawnChain();
    if (this.driver.live) {
      this.stallTimer = setInterval(() => this.checkStall(), Math.max(50, Math.min(1000, this.restart.stallMs / 4)));
      this.stallTimer.unref();
    }
  }

  geometry(): Geometry {
    if (!this.geom) throw new AgentError('INTERNAL', 'source geometry asked before start()');
    return this.geom;
  }

  fps(): number | undefined {
    return this.picture?.fps;
  }

  /** Frames in the file, when the container says (for progress). */
  frameCount(): number | undefined {
    return this.picture?.frames;
  }

  stats(): SourceStats {
    return { framesIn: this.framesIn, framesDropped: this.slot.dropped, restarts: this.restarts, inputErrors: this.inputErrors };
  }

  status(): SourceStatus {
    return {
      ...this.stats(),
      state: this.state,
      lastError: this.lastError,
      lastFrameAgoMs: this.lastFrameMono === undefined ? undefined : this.clock.now() - this.lastFrameMono,
    };
  }

  /** Process ids of the running capture chain (for tests and diagnostics). */
  pids(): number[] {
    return this.children.map((c) => c.pid).filter((p): p is number => p !== undefined);
  }

  next(): Promise<Frame | null> {
    return this.slot.take();
  }

  async stop(): Promise<void> {
    this.state = 'stopped';
    clearInterval(this.stallTimer);
    clearTimeout(this.restartTimer);
    const chain = this.children;
    this.children = [];
    this.frameStream?.destroy();
    this.frameStream = undefined;
    await Promise.all(chain.map((c) => terminate(c)));
    this.slot.end();
  }

  private spawnChain(): void {
    const plan = this.driver.plan(this.geom!, this.opts.input, planOptions(this.opts));
    const chain: ChildProcess[] = [];
    this.stderrTail = [];
    this.framesInRun = 0;
    this.runStartMono = this.clock.now();
    // The frame writer gets a real pipe with room for a few frames (pipe-size.ts); earlier stages chain through
    // node's own stdio.
    const frameBytes = producerFrameBytes(plan.layout);
    const big = openFramePipe(4 * frameBytes);
    if (big && big.size < 2 * frameBytes) {
      this.log.warn({ pipeBytes: big.size, frameBytes }, 'the frame pipe holds less than two frames: raise /proc/sys/fs/pipe-max-size so the decoder can work ahead');
    }
    try {
      for (const [i, st] of plan.stages.entries()) {
        const stdin = i === 0 ? 'ignore' : chain[i - 1]!.stdout!;
        const isLast = i === plan.stages.length - 1;
        this.log.debug({ cmd: st.cmd, args: st.args }, 'starting capture process');
        const child = this.spawner(st.cmd, st.args, { stdio: [stdin, isLast && big ? big.writeFd : 'pipe', 'pipe'] });
        chain.push(child);
        child.stderr!.on('data', (d: Buffer) => this.keepStderr(st.cmd, d));
        child.on('error', (err) => {
          this.keepStderr(st.cmd, Buffer.from(`${err.message}\n`));
          this.log.error({ err, cmd: st.cmd }, `${st.cmd} could not be started`);
        });
      }
    } catch (err) {
      // spawn() itself threw (bad arguments, E2BIG): nothing of this chain may outlive it.
      if (big) {
        closeSync(big.writeFd);
        closeSync(big.readFd);
      }
      for (const c of chain) void terminate(c);
      throw err;
    }
    this.children = chain;
    const last = chain.at(-1)!;
    if (big) closeSync(big.writeFd); // the child has its copy; EOF comes when it exits
    let stdout!: Readable;
    const g = this.geom!;
    const format = plan.format ?? (this.opts.input.color === 'BGR' ? 'bgr24' : 'rgb24');
    const reader = new RawFrameReader(plan.layout, (data) => {
      const now = this.clock.now();
      this.lastFrameMono = now;
      this.framesIn++;
      this.framesInRun++;
      if (this.state !== 'streaming') {
        if (this.restarts > 0) this.log.info({ restarts: this.restarts }, 'source is back: frames flow again');
        this.state = 'streaming';
      }
      this.backoff.reset();
      const seq = this.seq++;
      const ptsMs = this.driver.live ? now : this.mediaTimeOf(seq, now);
      let released = false;
      const release = (): void => {
        if (released) return;
        released = true;
        reader.recycle(data);
      };
      const frame: Frame = { seq, captureMono: now, captureWall: this.clock.wall(), ptsMs, width: g.width, height: g.height, format, data, release };
      if (!this.slot.offer(frame) && this.opts.mode === 'lossless') {
        // Full: stop reading until the frame is taken; the rest of this chunk waits in the reader.
        stdout.pause();
        this.slot.whenTaken(() => {
          if (!reader.resume()) return;
          stdout.resume();
          const exit = this.deferredExit;
          this.deferredExit = undefined;
          exit?.();
        });
        return false;
      }
      return true;
    });
    if (last.stdout) {
      // No pipe of our own (no libc through koffi), or a spawner that made its own stdout (tests): node's socket.
      if (big) closeSync(big.readFd);
      stdout = last.stdout;
    } else {
      // Reads go straight into the frame buffers (RawFrameReader.directReads). The net.Socket constructor takes
      // the same `onread` option as socket.connect() (Node.js 20 lib/net.js); @types/node lists it for connect only.
      const opts: SocketConstructorOpts & { onread: OnReadOpts } = { fd: big!.readFd, readable: true, writable: false, onread: reader.directReads() };
      stdout = new Socket(opts);
      stdout.on('error', (err) => this.log.debug({ err }, 'frame pipe error'));
    }
    this.frameStream?.destroy();
    this.frameStream = stdout;
    if (stdout === last.stdout) reader.attach(stdout);
    else stdout.resume();
    // The chain is over when the frame writer has exited and everything it wrote has been read (with our own
    // pipe the two come separately); earlier stages get SIGPIPE or are killed with it.
    let exited: [number | null, NodeJS.Signals | null] | undefined;
    let drained = stdout === last.stdout; // the child's own stdout is closed before its 'close' event
    const over = (): void => {
      if (!exited || !drained) return;
      if (this.children !== chain) return; // a replaced or stopped chain
      this.children = [];
      for (const c of chain) if (c !== last) void terminate(c);
      if (this.state === 'stopped') return;
      const exit = (): void => this.onChainExit(exited![0], exited![1], reader.partial());
      // Lossless: frames still held in the reader go out before the end (or the next loop) is handled.
      if (reader.hasPending()) this.deferredExit = exit;
      else exit();
    };
    last.on('close', (code, signal) => {
      exited = [code, signal];
      over();
    });
    if (!drained) {
      stdout.once('close', () => {
        drained = true;
        over();
      });
    }
  }

  /**
   * A file frame's media time: its own timestamp from the container when known, else its index at the stream's
   * frame rate; a looped file goes on from the end of the previous pass.
   */
  private mediaTimeOf(seq: number, now: number): number {
    const p = this.picture;
    const fps = p?.fps;
    const pts = p?.ptsMs;
    if (!fps && !pts?.length) return now;
    const step = fps ? 1000 / fps : pts!.length > 1 ? pts!.at(-1)! / (pts!.length - 1) : 40;
    const passMs = pts?.length ? pts.at(-1)! + step : (p?.frames ?? seq + 1) * step;
    const base = this.loops * passMs;
    if (pts && seq < pts.length) return base + pts[seq]!;
    if (pts?.length) return base + pts.at(-1)! + (seq - pts.length + 1) * step;
    return base + seq * step;
  }

  private onChainExit(code: number | null, signal: NodeJS.Signals | null, partialBytes: number): void {
    const tail = this.stderrTail.at(-1);
    const raw = tail ?? (signal ? `killed by ${signal}` : `exit status ${code}`);
    const why = this.driver.explain?.(this.stderrTail) ?? explainFailure(this.stderrTail) ?? raw;
    if (!this.driver.live) {
      if (code === 0 && this.driver.loop && this.framesInRun > 0) {
        this.loops++;
        if (this.picture) this.picture.frames = this.seq;
        this.seq = 0;
        this.spawnChain();
        return;
      }
      if (code === 0 && this.framesIn > 0) {
        if (partialBytes > 0) this.log.warn({ partialBytes }, 'the last frame was incomplete and is ignored');
        this.state = 'ended';
        this.slot.end();
        return;
      }
      this.state = 'failed';
      this.lastError = why;
      const msg = code === 0 ? `${this.describe()}: no frame could be decoded` : `${this.describe()}: decoding failed after ${this.seq} frames (${why}${why !== raw ? `; ${raw}` : ''})`;
      this.slot.fail(new AgentError('SOURCE_CORRUPT', msg, { fix: 'the video is damaged, truncated or not a video: re-encode or replace it' }));
      return;
    }
    this.scheduleRestart(why === raw ? `capture exited: ${raw}` : `${why} (${raw})`);
  }

  /**
   * H22 finding 9: ffmpeg pads or skips what it cannot decode and goes on (a file cut half-way exits 0). Each such
   * message is counted (stats().inputErrors: the run summary and /metrics) and warned about at most once a minute.
   */
  private noteDamage(line: string): void {
    this.inputErrors++;
    const now = this.clock.now();
    if (this.damageWarnedMono !== undefined && now - this.damageWarnedMono < DAMAGE_WARN_EVERY_MS) return;
    this.damageWarnedMono = now;
    this.log.warn({ inputErrors: this.inputErrors, decoder: line }, `${this.describe()}: the input is damaged or truncated (${line.replace(/^\[[^\]]*\]\s*/, '')}): frames there are missing or padded`);
  }

  private keepStderr(cmd: string, d: Buffer): void {
    for (const line of d.toString().split('\n')) {
      if (!line.trim()) continue;
      this.stderrTail.push(`${cmd}: ${line.trim()}`);
      if (isInputDamage(line)) this.noteDamage(line.trim());
    }
    if (this.stderrTail.length > 40) this.stderrTail.splice(0, this.stderrTail.length - 40);
  }

  private checkStall(): void {
    if (!this.children.length || this.state === 'stopped') return;
    const now = this.clock.now();
    const firstFrame = this.framesInRun === 0;
    const idle = now - (firstFrame ? this.runStartMono : this.lastFrameMono!);
    const limit = firstFrame ? (this.restart.startMs ?? Math.max(this.restart.stallMs, 15_000)) : this.restart.stallMs;
    if (idle > limit) {
      const chain = this.children;
      this.children = [];
      for (const c of chain) c.kill('SIGKILL');
      this.frameStream?.destroy();
      this.frameStream = undefined;
      const why = explainFailure(this.stderrTail);
      this.scheduleRestart(`${firstFrame ? 'no first frame' : 'no frame'} for ${Math.round(idle)} ms${why ? ` (${why})` : ''}`);
    }
  }

  private scheduleRestart(reason: string): void {
    const delay = this.backoff.next();
    this.restarts++;
    this.state = 'restarting';
    this.lastError = reason;
    this.log.warn({ reason, delayMs: delay, attempt: this.backoff.attempts, restarts: this.restarts }, `${this.describe()} lost: ${reason}; restarting in ${delay} ms`);
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      if (this.state === 'stopped') return;
      this.state = 'starting';
      this.spawnChain();
    }, delay);
    // Not unref'd: while a camera is away this timer is what keeps the agent alive (and retrying).
  }
}

/** SIGTERM, then SIGKILL after 2 s; resolves when the process is gone. */
function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise<void>((res) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 2000);
    child.once('close', () => {
      clearTimeout(t);
      res();
    });
    if (!child.kill('SIGTERM')) {
      clearTimeout(t);
      res();
    }
  });
}
