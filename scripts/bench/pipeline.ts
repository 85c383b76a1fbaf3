/**
 * Pipeline benchmark, all on this machine in one run:
 *   1. raw backend: ONNX Runtime with one intra-op thread, back-to-back session.run on a fixed input (the limit);
 *   2. the agent end to end on the demo video (`run --until-eof`: every frame decoded by ffmpeg, packed, inferred,
 *      decoded, tracked, rules applied), in a child process so its CPU time and peak RSS are its own. The clip is
 *      played `passes` times in a row (default 4, one file made once next to it with ffmpeg's stream copy), so
 *      that, like the raw loop, the figure is the loop's steady rate: over the demo clip's 354 frames alone (about
 *      2 s) the warm-up of the loop's JavaScript and the drain at the end weigh a few percent;
 *   2b. the same clip paced at its frame rate with the newest frame winning, as a camera feeds it (latency
 *       without the queueing of a saturated loop);
 *   2c. the same, on the clip re-encoded as MJPEG (what USB cameras send; ffmpeg decodes it at reduced size);
 *   3. the peer approach: a Python loop with OpenCV (VideoCapture + dnn.readNetFromONNX + NMSBoxes), same video,
 *      same model file, one thread (scripts/bench/opencv_loop.py).
 * Reported: throughput, end-to-end / raw ratio, capture-to-decision p50/p99, CPU ms per frame, peak RSS.
 * The machine is shared, so wall-clock rates move with its load (printed); CPU per frame is the steadier figure.
 *
 *   node dist/scripts/bench/pipeline.js [--config FILE] [--raw-seconds S] [--rounds N] [--passes N] [--no-opencv] [--json]
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { composeAgent } from '../../agent/app/compose.js';
import { loadConfigFile, type LoadedConfig } from '../../agent/config/load.js';
import { AgentError } from '../../agent/errors.js';
import { createLogger } from '../../agent/log.js';
import { loadManifest, type LoadedManifest } from '../../agent/model/manifest.js';
import { AGENT_ENV, AGENT_NODE_FLAGS, demoConfigPath, demoSceneDir, DEMO_SEED, packageRoot } from '../../agent/paths.js';
import { loadOrt } from '../../drivers/inference/onnxruntime.js';
import { allowedCpus, pinThread, setThreadCpus, threadCpus } from '../../drivers/inference/affinity.js';
import { resolveInferenceThread } from '../../agent/model/inference-thread.js';
import { agentDecoder, looping, type AgentDecoder } from './decoder.js';
import { childrenCpuMs, threadsCpuMs } from './proc-cpu.js';

export interface PipelineBenchOptions {
  /** Agent config with a file source (default: the built-in conveyor demo). */
  config?: string;
  /** Seconds of back-to-back session.run for the raw figure, over all rounds (default 9). */
  rawSeconds?: number;
  /** Rounds of raw / agent / agent-on-MJPEG, interleaved (default 3); the median round is reported. */
  rounds?: number;
  /** Times the clip is played in a row for the end-to-end runs and the OpenCV loop (default 4). */
  passes?: number;
  /** Skip the OpenCV loop. */
  noOpencv?: boolean;
  python?: string;
}

export interface RawResult {
  runs: number;
  fps: number;
  p50Ms: number;
  p99Ms: number;
  cpuMsPerRun: number;
}

export interface E2eResult {
  frames: number;
  seconds: number;
  fps: number;
  decisionP50Ms: number;
  decisionP99Ms: number;
  inferenceP50Ms: number;
  /** CPU of the agent process (main thread + ONNX Runtime threads) per frame, during the loop. */
  agentCpuMsPerFrame: number;
  /** Of which the main thread's: the frame loop itself (reading, packing unless the inference thread packs, decoding boxes, tracker, rules, events, metrics), and inference when it runs there. */
  mainThreadCpuMsPerFrame: number;
  /** The busiest other thread's (the inference worker when inference runs in one: session.run, packing, the hand-over). */
  busiestThreadCpuMsPerFrame: number;
  /** CPU of the ffmpeg decoder per frame (decode + scale + colour conversion). */
  decoderCpuMsPerFrame: number;
  /** Peak resident memory of the agent process (getrusage maxrss). */
  peakRssMb: number;
  dropped: number;
  events: number;
}

export interface OpencvResult {
  frames: number;
  seconds: number;
  fps: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  cpuMsPerFrame: number;
  peakRssMb: number;
  opencv: string;
  decoded: boolean;
}

export interface PipelineBenchResult {
  /** End-to-end / raw ratio of every round (H.264 clip and MJPEG clip); the median round is the one reported. */
  rounds: { count: number; ratios: number[]; mjpegRatios: number[] };
  /**
   * The decoder's effect on the model, from the median round: the raw loop pinned to one CPU, alone and then while
   * ffmpeg decodes the clip pinned to another (one thread, as in the agent); `pinned` says where, or why not.
   */
  interference: { alone: RawResult; beside: RawResult; pinned: string };
  machine: { cpus: number; model: string; loadavg: number[] };
  model: { name: string; variant: string; file: string; input: number[] };
  video: string;
  raw: RawResult;
  e2e: E2eResult;
  ratio: number;
  /** The clip paced at its frame rate, newest frame wins: what a camera gives (latency without queueing). */
  live: E2eResult;
  /** The same scene as MJPEG (what a USB camera sends), which ffmpeg decodes at reduced size. */
  mjpeg: (E2eResult & { ratio: number; video: string }) | { skipped: string };
  opencv: OpencvResult | { skipped: string };
  targets: { ratio90: boolean; fasterThanOpencv: boolean | undefined; lessCpuThanOpencv: boolean | undefined; rssUnder150: boolean };
}

/** Runs the three measurements in sequence (raw, agent, OpenCV) and returns the figures. */
export async function benchPipeline(o: PipelineBenchOptions = {}): Promise<PipelineBenchResult> {
  const root = packageRoot();
  const cfgPath = resolve(o.config ?? demoConfigPath());
  const loaded = loadConfigFile(cfgPath);
  const src = loaded.config.source;
  if (src.type !== 'file') throw new AgentError('USAGE', `the pipeline benchmark needs a file source, ${cfgPath} has ${src.type}`, { fix: 'pass --config with a file source' });
  const video = resolve(loaded.baseDir, src.path);
  if (video === join(demoSceneDir(), 'conveyor.mp4')) {
    const { ensureScene } = await import('../demo-scene/index.js');
    await ensureScene(demoSceneDir(), DEMO_SEED);
  }
  const manifestPath = resolve(loaded.baseDir, loaded.config.model.manifest);
  if (!existsSync(manifestPath)) {
    throw new AgentError('MODEL_NOT_FOUND', `model manifest ${manifestPath} does not exist`, { fix: 'build the demo model first (scripts/train) or pass --config with another model' });
  }
  const manifest = loadManifest(manifestPath);
  const variant = (loaded.config.model.variant ? manifest.variants.find((v) => v.name === loaded.config.model.variant) : undefined) ?? manifest.variants.find((v) => v.runtime === 'onnxruntime' && v.accelerator === 'cpu');
  if (!variant) throw new AgentError('MODEL_INVALID', `${manifest.path} has no ONNX Runtime CPU variant`, { fix: 'pass --config with an ONNX model' });
  const modelFile = resolve(manifest.dir, variant.file);

  // Rounds: raw, agent (H.264), agent (MJPEG) in turn, so that each ratio compares runs seconds apart on this shared
  // machine; the round with the median H.264 ratio is reported, with every round's ratios alongside.
  const rounds = Math.max(1, o.rounds ?? 3);
  const clip = loopedClip(video, o.passes ?? 4);
  const raws: RawResult[] = [];
  // The decoder command of the agent runs below: one inference thread (model.threads 1), in the thread a file read
  // in full gets (model.inferenceThread as configured).
  const decoder = await agentDecoder(video, manifest.input, 1, resolveInferenceThread(loaded.config.model.inferenceThread, undefined, 'file').thread);
  // The same raw loop while ffmpeg decodes the clip on another core, as it does in the agent: what inference can
  // reach at best with the decoder beside it on this machine (cores that share caches, memory or a physical core).
  const besides: Array<PipelineBenchResult['interference']> = [];
  const e2es: E2eResult[] = [];
  const mjpegs: Array<PipelineBenchResult['mjpeg']> = [];
  for (let i = 0; i < rounds; i++) {
    raws.push(await benchRaw(modelFile, manifest, (o.rawSeconds ?? 9) / rounds));
    besides.push(await decoderInterference(decoder, () => benchRaw(modelFile, manifest, 2)));
    e2es.push(await runChild(cfgPath, variant.name, clip));
    mjpegs.push(await mjpegRun(clip, cfgPath, variant.name, raws[i]!.fps));
  }
  const ratios = e2es.map((e, i) => e.fps / raws[i]!.fps);
  const mid = medianIndex(ratios);
  const raw = raws[mid]!;
  const e2e = { ...e2es[mid]!, peakRssMb: Math.max(...e2es.map((e) => e.peakRssMb)) };
  const mjpegRatios = mjpegs.map((m) => ('ratio' in m ? m.ratio : NaN));
  const mjpegMid = mjpegRatios.every(Number.isFinite) ? medianIndex(mjpegRatios) : 0;
  const mjpeg = mjpegs[mjpegMid]!;
  const live = await runChild(cfgPath, variant.name, undefined, true);
  const opencv: OpencvResult | { skipped: string } = o.noOpencv ? { skipped: '--no-opencv' } : runOpencv(o.python ?? '/usr/bin/python3', join(root, 'scripts', 'bench', 'opencv_loop.py'), manifest.path, variant.name, clip);
  const ratio = ratios[mid]!;
  return {
    rounds: { count: rounds, ratios, mjpegRatios },
    interference: besides[mid]!,
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', loadavg: loadavg().map((x) => Math.round(x * 100) / 100) },
    model: { name: manifest.name, variant: variant.name, file: modelFile, input: manifest.input.shape },
    video: clip,
    raw,
    e2e,
    ratio,
    live,
    mjpeg,
    opencv,
    targets: {
      ratio90: ratio >= 0.9,
      fasterThanOpencv: 'fps' in opencv ? e2e.fps > opencv.fps : undefined,
      lessCpuThanOpencv: 'fps' in opencv ? e2e.agentCpuMsPerFrame + e2e.decoderCpuMsPerFrame < opencv.cpuMsPerFrame : undefined,
      rssUnder150: e2e.peakRssMb < 150,
    },
  };
}

/** Index of the median value (the upper one of an even count). */
function medianIndex(values: number[]): number {
  return values.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0])[Math.floor(values.length / 2)]![1];
}

/** A command-line count, or a one-line usage error naming the option. */
function wholeNumber(text: string, option: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new AgentError('USAGE', `--${option} ${text}: not a positive whole number`, { fix: `give e.g. --${option} 4` });
  return n;
}

/**
 * The clip played `passes` times as one file (`NAME-xN.mp4`, stream copy, made once): next to the clip, or in the
 * temp folder when the clip's folder is not writable.
 */
function loopedClip(video: string, passes: number): string {
  if (!Number.isInteger(passes) || passes < 1) throw new AgentError('USAGE', `--passes ${passes}: not a positive whole number`, { fix: 'give e.g. --passes 4 (1 plays the clip once)' });
  if (passes === 1) return video;
  const name = `${basename(video).replace(/\.[^./]+$/, '')}-x${passes}.mp4`;
  let why = '';
  for (const dir of [dirname(video), tmpdir()]) {
    const out = join(dir, name);
    if (existsSync(out) && statSync(out).mtimeMs >= statSync(video).mtimeMs) return out;
    const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-stream_loop', String(passes - 1), '-i', video, '-an', '-c', 'copy', `${out}.tmp.mp4`], { encoding: 'utf8' });
    if (r.status === 0) {
      renameSync(`${out}.tmp.mp4`, out);
      return out;
    }
    why = (r.stderr || '').trim().split('\n').pop() ?? '';
  }
  throw new AgentError('USAGE', `ffmpeg could not write the ${passes}-pass copy of ${video}: ${why}`, { fix: 'pass --passes 1 to play the clip once' });
}

/**
 * The raw loop `raw` alone and then while the agent's decoder (its own command: drivers/camera's plan with the
 * camera's options) decodes the clip over and over, with this thread pinned to the last allowed CPU and ffmpeg started on the first (a child takes
 * the mask of the thread that spawns it, and so do the threads it starts), so that the two never share a CPU and the
 * difference is what the decoder costs the model from another core (shared caches, memory bandwidth, or two vCPUs on
 * one physical core). Without two CPUs or pinning, both run where the kernel puts them, and `pinned` says why.
 */
async function decoderInterference(decoder: AgentDecoder, raw: () => Promise<RawResult>): Promise<PipelineBenchResult['interference']> {
  const allowed = allowedCpus();
  const original = threadCpus(process.pid);
  const [decoderCpu, modelCpu] = [allowed[0]!, allowed.at(-1)!];
  const restore = (): void => {
    const why = setThreadCpus(process.pid, original.length ? original : allowed);
    if (why) throw new AgentError('INTERNAL', `the bench could not undo its CPU pin: ${why}`, { fix: 'run the bench again; report it if it repeats' });
  };
  let why = allowed.length < 2 ? `${allowed.length || 'unknown'} CPU(s) allowed` : pinThread(process.pid, modelCpu);
  try {
    const alone = await raw();
    // Spawned from this thread while it is on the decoder's CPU, then this thread goes back to the model's.
    if (!why) why = pinThread(process.pid, decoderCpu);
    // The agent's own command (its frames to /dev/null instead of the agent's pipe), reading the clip over and over.
    const child = spawn(decoder.cmd, looping(decoder.args), { stdio: 'ignore' });
    let failed = '';
    child.once('error', (err) => (failed = `ffmpeg could not start: ${err.message}`));
    const closed = new Promise((r) => child.once('close', r));
    if (!why) why = pinThread(process.pid, modelCpu);
    if (why) restore(); // not pinned after all: neither runs pinned, and the row says so
    try {
      await new Promise((r) => setTimeout(r, 300));
      const beside = await raw();
      if (!failed && (child.exitCode !== null || child.signalCode !== null)) failed = `ffmpeg exited early (${child.exitCode ?? child.signalCode})`;
      const pinned = failed ? `no decoder: ${failed}` : why ? `not pinned: ${why}` : `model on CPU ${modelCpu}, decoder on CPU ${decoderCpu}`;
      return { alone, beside, pinned };
    } finally {
      child.kill('SIGKILL');
      await closed;
    }
  } finally {
    if (!why) restore();
  }
}

/** Back-to-back session.run on one fixed input, one intra-op thread, session options as the agent's backend. */
async function benchRaw(file: string, manifest: LoadedManifest, seconds: number): Promise<RawResult> {
  const ort = await loadOrt();
  const session = await ort.InferenceSession.create(file, {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  });
  const shape = manifest.input.shape;
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = ((i * 7919) % 256) / 255;
  const feeds = { [manifest.input.name]: new ort.Tensor('float32', data, shape) };
  for (let i = 0; i < 10; i++) await session.run(feeds);
  const lat: number[] = [];
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000 || lat.length < 20) {
    const t = performance.now();
    await session.run(feeds);
    lat.push(performance.now() - t);
  }
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  await session.release();
  lat.sort((a, b) => a - b);
  return { runs: lat.length, fps: (lat.length * 1000) / ms, p50Ms: pct(lat, 50), p99Ms: pct(lat, 99), cpuMsPerRun: (cpu.user + cpu.system) / 1000 / lat.length };
}

/**
 * The same clip re-encoded as MJPEG at the same size (quality 3, as USB cameras send it; next to the clip, made once)
 * and run end to end like the H.264 one: how much of the gap to the raw figure is software H.264 decoding.
 */
async function mjpegRun(video: string, cfgPath: string, variant: string, rawFps: number): Promise<PipelineBenchResult['mjpeg']> {
  const out = video.replace(/\.[^./]+$/, '') + '-mjpeg.avi';
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(video).mtimeMs) {
    const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-i', video, '-an', '-c:v', 'mjpeg', '-q:v', '3', '-pix_fmt', 'yuvj422p', `${out}.tmp.avi`], { encoding: 'utf8' });
    if (r.status !== 0) return { skipped: `ffmpeg could not re-encode ${video} as MJPEG: ${(r.stderr || '').trim().split('\n').pop()}` };
    renameSync(`${out}.tmp.avi`, out);
  }
  const e = await runChild(cfgPath, variant, out);
  return { ...e, ratio: e.fps / rawFps, video: out };
}

/** The agent end to end in a fresh child process (this same script with --e2e-child). */
function runChild(cfgPath: string, variant: string, video?: string, live = false): Promise<E2eResult> {
  const self = fileURLToPath(import.meta.url);
  return new Promise((res, rej) => {
    // With the flags the service runs with (systemd unit), so the measured RSS is the service's.
    const child = spawn(process.execPath, [...AGENT_NODE_FLAGS, self, '--e2e-child', cfgPath, '--variant', variant, ...(video ? ['--video', video] : []), ...(live ? ['--live'] : [])], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...AGENT_ENV } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    child.on('close', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{')) return rej(new AgentError('INTERNAL', `the agent run failed (exit ${code}): ${err.trim().split('\n').pop() ?? ''}`));
      res(JSON.parse(line) as E2eResult);
    });
  });
}

/**
 * Child side: run the agent on the whole file with 1 inference thread, lossless and flat out (or, with --live, paced
 * at the clip's rate with the newest frame winning, as a camera); print the figures as JSON.
 */
async function e2eChild(cfgPath: string, variant: string | undefined, video: string | undefined, live = false): Promise<void> {
  const loaded: LoadedConfig = loadConfigFile(cfgPath);
  const c = loaded.config;
  if (c.source.type !== 'file') throw new AgentError('USAGE', 'file source needed');
  loaded.config = { ...c, source: { ...c.source, pace: live ? 'realtime' : 'fast', loop: false, ...(video ? { path: resolve(video) } : {}) }, model: { ...c.model, threads: 1, ...(variant ? { variant } : {}) }, health: { ...c.health, enabled: false } };
  const state = mkdtempSync(join(tmpdir(), 'edge-agent-bench-'));
  const log = createLogger({ level: 'warn', pretty: false });
  const agent = composeAgent({ loaded, log, mode: live ? 'latest' : 'lossless', stateDir: state, simulateOutputs: join(state, 'outputs.jsonl') });
  try {
    await agent.start();
    const cpu0 = process.cpuUsage();
    const threads0 = threadsCpuMs();
    const kids0 = childrenCpuMs();
    const summary = await agent.run();
    const cpu = process.cpuUsage(cpu0);
    const threads = [...threadsCpuMs()].map(([tid, ms]) => [tid, ms - (threads0.get(tid) ?? 0)] as const);
    const mainMs = threads.find(([tid]) => tid === process.pid)?.[1] ?? 0;
    const busiestMs = Math.max(0, ...threads.filter(([tid]) => tid !== process.pid).map(([, ms]) => ms));
    const kids = childrenCpuMs() - kids0;
    const frames = Math.max(1, summary.frames);
    const r: E2eResult = {
      frames: summary.frames,
      seconds: summary.seconds,
      fps: summary.fps,
      decisionP50Ms: summary.stages.decision.p50,
      decisionP99Ms: summary.stages.decision.p99,
      inferenceP50Ms: summary.stages.inference.p50,
      agentCpuMsPerFrame: (cpu.user + cpu.system) / 1000 / frames,
      mainThreadCpuMsPerFrame: mainMs / frames,
      busiestThreadCpuMsPerFrame: busiestMs / frames,
      decoderCpuMsPerFrame: kids / frames,
      peakRssMb: process.resourceUsage().maxRSS / 1024,
      dropped: summary.dropped,
      events: summary.events,
    };
    await agent.stop();
    process.stdout.write(`${JSON.stringify(r)}\n`);
  } finally {
    rmSync(state, { recursive: true, force: true });
  }
}

function runOpencv(python: string, script: string, manifest: string, variant: string, video: string): OpencvResult | { skipped: string } {
  if (!existsSync(python)) return { skipped: `${python} not found` };
  const r = spawnSync(python, [script, '--manifest', manifest, '--variant', variant, '--video', video], { encoding: 'utf8', maxBuffer: 1 << 20 });
  const line = r.stdout?.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !line.startsWith('{')) return { skipped: `the OpenCV loop failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}` };
  const j = JSON.parse(line) as OpencvResult & { error?: string };
  if (j.error) return { skipped: j.error };
  return j;
}

function pct(sorted: number[], p: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Agent + ffmpeg CPU per frame, and the agent's main thread (the frame loop) within it. */
function cpuCell(e: E2eResult): string {
  const f1 = (x: number): string => x.toFixed(1);
  return `${f1(e.agentCpuMsPerFrame + e.decoderCpuMsPerFrame)} (agent ${f1(e.agentCpuMsPerFrame)}, of it loop thread ${e.mainThreadCpuMsPerFrame.toFixed(2)}, busiest other ${e.busiestThreadCpuMsPerFrame.toFixed(2)}; ffmpeg ${f1(e.decoderCpuMsPerFrame)})`;
}

/** The table printed by `npm run bench`. */
export function formatPipelineTable(r: PipelineBenchResult): string {
  const f1 = (x: number): string => x.toFixed(1);
  const rows: string[][] = [
    ['run', 'frames', 'fps', 'vs raw', 'latency p50/p99 ms', 'CPU ms/frame', 'peak RSS MB'],
    ['raw backend (session.run, 1 thread)', String(r.raw.runs), f1(r.raw.fps), '100%', `${f1(r.raw.p50Ms)}/${f1(r.raw.p99Ms)} (run)`, f1(r.raw.cpuMsPerRun), '-'],
    ...(
      [
        ['raw, pinned, alone', r.interference.alone],
        ['raw, pinned, ffmpeg decoding on another CPU', r.interference.beside],
      ] as const
    ).map(([name, x]) => [name, String(x.runs), f1(x.fps), `${Math.round((x.fps / r.raw.fps) * 100)}%`, `${f1(x.p50Ms)}/${f1(x.p99Ms)} (run)`, f1(x.cpuMsPerRun), '-']),
    [
      'edge-agent run --until-eof',
      String(r.e2e.frames),
      f1(r.e2e.fps),
      `${Math.round(r.ratio * 100)}%`,
      `${f1(r.e2e.decisionP50Ms)}/${f1(r.e2e.decisionP99Ms)} (capture-to-decision)`,
      cpuCell(r.e2e),
      f1(r.e2e.peakRssMb),
    ],
  ];
  rows.push([
    'edge-agent run, clip paced as a camera',
    String(r.live.frames),
    f1(r.live.fps),
    '-',
    `${f1(r.live.decisionP50Ms)}/${f1(r.live.decisionP99Ms)} (capture-to-decision)`,
    cpuCell(r.live),
    f1(r.live.peakRssMb),
  ]);
  if ('fps' in r.mjpeg) {
    const m = r.mjpeg;
    rows.push([
      '--until-eof, clip as MJPEG (USB cam)',
      String(m.frames),
      f1(m.fps),
      `${Math.round(m.ratio * 100)}%`,
      `${f1(m.decisionP50Ms)}/${f1(m.decisionP99Ms)} (capture-to-decision)`,
      cpuCell(m),
      f1(m.peakRssMb),
    ]);
  } else {
    rows.push(['--until-eof, clip as MJPEG', '-', '-', '-', `skipped: ${r.mjpeg.skipped}`, '-', '-']);
  }
  if ('fps' in r.opencv) {
    const o = r.opencv;
    rows.push([`OpenCV ${o.opencv} Python loop`, String(o.frames), f1(o.fps), `${Math.round((o.fps / r.raw.fps) * 100)}%`, `${f1(o.latencyP50Ms)}/${f1(o.latencyP99Ms)} (read-to-decision)`, f1(o.cpuMsPerFrame), f1(o.peakRssMb)]);
  } else {
    rows.push(['OpenCV Python loop', '-', '-', '-', `skipped: ${r.opencv.skipped}`, '-', '-']);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]): string => `| ${row.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  const sep = `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`;
  const t = r.targets;
  const mark = (ok: boolean | undefined): string => (ok === undefined ? 'n/a' : ok ? 'PASS' : 'FAIL');
  return [
    `pipeline: ${r.model.name}/${r.model.variant} [${r.model.input.join(',')}] on ${basename(r.video)} (${r.e2e.frames} frames); ${r.machine.cpus} x ${r.machine.model}; load average ${r.machine.loadavg.join(' ')}`,
    line(rows[0]!),
    sep,
    ...rows.slice(1).map(line),
    `${r.rounds.count} rounds of raw, agent and agent on MJPEG in turn; median round shown (end-to-end / raw per round: H.264 ${r.rounds.ratios.map((x) => `${Math.round(x * 100)}%`).join(', ')}; MJPEG ${r.rounds.mjpegRatios.map((x) => (Number.isFinite(x) ? `${Math.round(x * 100)}%` : '-')).join(', ')}); peak RSS: the highest of the rounds`,
    'latency in the --until-eof rows includes waiting behind the frame before (the loop runs flat out); the paced row is what a camera sees',
    `the decoder on another CPU slows the model to ${Math.round((r.interference.beside.fps / r.interference.alone.fps) * 100)}% of its speed alone (${r.interference.pinned}); the agent against the raw loop with the decoder beside it: ${Math.round((r.e2e.fps / r.interference.beside.fps) * 100)}%`,
    `targets: end-to-end >= 90% of raw: ${mark(t.ratio90)} (${(Math.floor(r.ratio * 1000) / 10).toFixed(1)}%); faster than the OpenCV loop: ${mark(t.fasterThanOpencv)} (less CPU per frame: ${mark(t.lessCpuThanOpencv)}); peak RSS < 150 MB: ${mark(t.rssUnder150)} (${f1(r.e2e.peakRssMb)} MB)`,
    '',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      'raw-seconds': { type: 'string' },
      rounds: { type: 'string' },
      passes: { type: 'string' },
      'no-opencv': { type: 'boolean' },
      json: { type: 'boolean' },
      'e2e-child': { type: 'boolean' },
      variant: { type: 'string' },
      video: { type: 'string' },
      live: { type: 'boolean' },
    },
  });
  if (values['e2e-child']) {
    await e2eChild(positionals[0]!, values.variant, values.video, values.live);
    return 0;
  }
  const r = await benchPipeline({ config: values.config, rawSeconds: values['raw-seconds'] ? Number(values['raw-seconds']) : undefined, rounds: values.rounds ? Number(values.rounds) : undefined, passes: values.passes !== undefined ? wholeNumber(values.passes, 'passes') : undefined, noOpencv: values['no-opencv'] });
  process.stdout.write(values.json ? `${JSON.stringify(r, null, 2)}\n` : formatPipelineTable(r));
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${err instanceof AgentError ? err.oneLine() : String(err)}\n`);
      process.exit(err instanceof AgentError ? err.exitCode : 1);
    },
  );
}

