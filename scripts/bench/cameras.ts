/**
 * Several cameras on one model host (`npm run bench -- --only cameras`), all measured in one run:
 *   1. bare model: back-to-back calls on the session the agent opens for a file read in full (model host, known-answer
 *      checked: its variant, thread, intra-op threads and calls in flight are printed), as many outstanding as the
 *      agent's fair share keeps at it: the model's throughput, the limit for all cameras together, and its CPU per call;
 *   2. the agent's own decoder (the camera driver's command for the clip, drivers/camera plan) decoding the clip 1 and
 *      4 times at once, alone: what decoding costs per frame and reaches on this machine;
 *   3. the demo clip as 1 and 4 cameras read in full (the `demo --cameras N` config, lossless): aggregate frames/s
 *      against (1), the agent's CPU and its decoders' CPU per frame, peak RSS of the agent process;
 *   4. the 4 cameras live for a few seconds (latest frame wins, clip paced in real time): frames per camera, and the
 *      spread between the most and least served camera;
 *   5. the CPU ceiling for N cameras here: CPUs / (decode + inference + agent loop CPU per frame), and the agent's
 *      fraction of it. With CPU decoding the ceiling can be far below the bare model, and the target line says so.
 * Each agent run is a child process (its own CPU time and peak RSS).
 *
 *   node dist/scripts/bench/cameras.js [--json]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createLogger } from '../../agent/log.js';
import { AgentError } from '../../agent/errors.js';
import { loadManifest } from '../../agent/model/manifest.js';
import { AGENT_ENV, AGENT_NODE_FLAGS, DEMO_SEED, demoConfigPath, demoSceneDir } from '../../agent/paths.js';
import { composeAgent, createModelHost } from '../../agent/app/compose.js';
import { configPath, loadConfigFile } from '../../agent/config/load.js';
import { TensorPacker } from '../../agent/preprocess/tensor.js';
import { inputSize } from '../../agent/preprocess/geometry.js';
import { camerasDemoConfig } from '../../agent/cli/commands/demo-cameras.js';
import { agentDecoder, decodeAlone, type DecodeRun } from './decoder.js';
import { childrenCpuMs, mainThreadCpuMs, selfCpuMs } from './proc-cpu.js';

export interface BareModel {
  variant: string;
  accelerator: string;
  /** Where the calls run (model host's choice for a file read in full) and why. */
  thread: 'worker' | 'main';
  threadReason: string;
  /** ONNX Runtime intra-op threads (model.threads). */
  intraOpThreads: number;
  /** Calls kept outstanding at the session (what the fair share keeps at it: 1 inline, up to 2 queued in a worker). */
  depth: number;
  pinnedCpu: number | undefined;
  calls: number;
  fps: number;
  /** CPU of this process (all threads) per call: the inference's CPU per frame. */
  cpuMsPerCall: number;
}

export interface CamerasRun {
  cameras: number;
  mode: 'lossless' | 'live';
  variant: string;
  frames: Record<string, number>;
  fps: number;
  seconds: number;
  peakRssMb: number;
  /** CPU of the agent process (main thread, inference, outputs worker) per frame, during the loop. */
  agentCpuMsPerFrame: number;
  /** Of which the main thread's: the frame loops (reading, decoding boxes, tracker, rules, events, metrics). */
  loopThreadCpuMsPerFrame: number;
  /** CPU of its ffmpeg decoders per frame (their whole life, reaped at the end). */
  decoderCpuMsPerFrame: number;
}

/** What N cameras could reach here if every CPU were busy at the CPU cost per frame measured. */
export interface Ceiling {
  cameras: number;
  cpus: number;
  decodeMs: number;
  inferenceMs: number;
  /** The agent's CPU per frame beside the inference (agent process CPU - the bare call's CPU). */
  loopMs: number;
  /** CPUs / (decode + inference + loop): the rate at which this machine's CPUs would all be busy. */
  fps: number;
  /** The same with a loop that cost nothing: the best any agent could do here with this decoder and model. */
  zeroLoopFps: number;
  /**
   * The bare model's rate on CPU time alone (its intra-op threads busy, nothing else running): what the target's
   * "bare model" is on an idle machine, independent of the load while measured.
   */
  bareCpuFps: number;
  /** The run's aggregate rate / fps. */
  ofCeiling: number;
}

export interface CamerasBenchResult {
  bare: BareModel;
  decode: { cmd: string; args: string[]; decoderThreads: number; runs: DecodeRun[] };
  runs: CamerasRun[];
  ceilings: Ceiling[];
  cpu: string;
  loadavg: number[];
}

export async function benchCameras(o: { bareSeconds?: number; liveSeconds?: number } = {}): Promise<CamerasBenchResult> {
  const bare = await bareModel(o.bareSeconds ?? 4);
  const { ensureScene } = await import('../demo-scene/index.js');
  const { video } = await ensureScene(demoSceneDir(), DEMO_SEED);
  const loaded = loadConfigFile(demoConfigPath());
  const manifest = loadManifest(configPath(loaded, loaded.config.model.manifest));
  const decoder = await agentDecoder(video, manifest.input, bare.intraOpThreads, bare.thread);
  const decodes = [await decodeAlone(decoder, 1), await decodeAlone(decoder, 4)];
  const runs = [await demoRun(1), await demoRun(4), await demoRun(4, o.liveSeconds ?? 8)];
  const cpus = availableParallelism();
  const ceilings = runs
    .filter((r) => r.mode === 'lossless')
    .map((r) => {
      const d = decodes.find((x) => x.streams === r.cameras) ?? decodes[0]!;
      const loopMs = Math.max(0, r.agentCpuMsPerFrame - bare.cpuMsPerCall);
      const fps = (cpus * 1000) / (d.cpuMsPerFrame + bare.cpuMsPerCall + loopMs);
      const bareCpuFps = (Math.min(cpus, bare.intraOpThreads) * 1000) / bare.cpuMsPerCall;
      return { cameras: r.cameras, cpus, decodeMs: d.cpuMsPerFrame, inferenceMs: bare.cpuMsPerCall, loopMs, fps, zeroLoopFps: (cpus * 1000) / (d.cpuMsPerFrame + bare.cpuMsPerCall), bareCpuFps, ofCeiling: r.fps / fps };
    });
  return { bare, decode: { cmd: decoder.cmd, args: decoder.args, decoderThreads: decoder.decoderThreads, runs: decodes }, runs, ceilings, cpu: cpuName(), loadavg: loadavg().map((x) => Math.round(x * 100) / 100) };
}

/**
 * The session the agent opens for the cameras read in full (the same host settings as the lossless runs: the demo
 * config's model section, job 'file'), called back to back with as many calls outstanding as the fair share keeps.
 */
async function bareModel(seconds: number): Promise<BareModel> {
  const log = createLogger({ level: 'warn' });
  const loaded = loadConfigFile(demoConfigPath());
  const dir = mkdtempSync(join(tmpdir(), 'bench-cameras-'));
  const host = createModelHost({ manifest: loadManifest(configPath(loaded, loaded.config.model.manifest)), settings: loaded.config.model, stateDir: dir, job: 'file', log });
  try {
    const { opened } = await host.open();
    const b = opened.backend;
    const { width, height } = inputSize(opened.input);
    const info = b.inputs().find((i) => i.name === opened.input.name);
    const packer = new TensorPacker(opened.input, { quant: info?.quant });
    const data = new Uint8Array(width * height * 3).map((_, i) => (i * 7919) % 256);
    const input = packer.pack({ data, width, height, format: 'rgb24' } as never);
    const feeds = { [opened.input.name]: input };
    for (let i = 0; i < 10; i++) await b.run(feeds);
    // As agent/cameras/fair-share.ts keeps at one session.
    const depth = b.runsIn?.() === 'main' ? 1 : Math.max(1, Math.min(2, b.maxInFlight?.() ?? 1));
    let calls = 0;
    const c0 = selfCpuMs();
    const t0 = performance.now();
    const lane = async (): Promise<void> => {
      while (performance.now() - t0 < seconds * 1000) {
        await b.run(feeds);
        calls++;
      }
    };
    await Promise.all(Array.from({ length: depth }, lane));
    const ms = performance.now() - t0;
    const cpuMs = selfCpuMs() - c0;
    const thread = host.inferenceThread();
    return {
      variant: opened.variant.name,
      accelerator: b.accelerator(),
      thread: b.runsIn?.() ?? 'main',
      threadReason: thread.reason,
      intraOpThreads: loaded.config.model.threads,
      depth,
      pinnedCpu: b.pinnedCpu?.(),
      calls,
      fps: (calls * 1000) / ms,
      cpuMsPerCall: cpuMs / calls,
    };
  } finally {
    await host.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const MARK = 'CAMERAS-BENCH ';

/** `demo --cameras N` (its config, composed the same way) in a child process: its own CPU time and peak RSS. */
function demoRun(n: number, liveSeconds?: number): Promise<CamerasRun> {
  const self = fileURLToPath(import.meta.url);
  return new Promise((res, rej) => {
    const args = [...AGENT_NODE_FLAGS, self, '--child', String(n), ...(liveSeconds ? ['--seconds', String(liveSeconds)] : [])];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...AGENT_ENV } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    child.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith(MARK));
      if (code !== 0 || !line) return rej(new AgentError('INTERNAL', `${n} camera(s) run failed (exit ${code}): ${(err || out).trim().split('\n').slice(-2).join(' ')}`));
      res(JSON.parse(line.slice(MARK.length)) as CamerasRun);
    });
  });
}

/** Child side: the N-camera demo config, lossless (or live for `seconds`), figures as one marked JSON line. */
async function camerasChild(n: number, seconds: number | undefined): Promise<void> {
  const { ensureScene } = await import('../demo-scene/index.js');
  const { video } = await ensureScene(demoSceneDir(), DEMO_SEED);
  const dir = mkdtempSync(join(tmpdir(), 'bench-cameras-'));
  const log = createLogger({ level: 'error', pretty: false });
  try {
    const file = camerasDemoConfig(n, video, dir, seconds, 'realtime');
    // As `demo --cameras N` runs it: events to a file, outputs simulated.
    const agent = composeAgent({ loaded: loadConfigFile(file), log, mode: seconds ? 'latest' : 'lossless', stateDir: dir, simulateOutputs: join(dir, 'outputs.jsonl'), eventsOut: join(dir, 'events.jsonl') });
    await agent.start();
    const kids0 = childrenCpuMs();
    const c0 = selfCpuMs();
    const main0 = mainThreadCpuMs();
    let timer: NodeJS.Timeout | undefined;
    if (seconds) timer = setTimeout(() => agent.requestStop(), seconds * 1000);
    const s = await agent.run();
    const cpuMs = selfCpuMs() - c0;
    const mainMs = mainThreadCpuMs() - main0;
    clearTimeout(timer);
    await agent.stop(0);
    // The decoders have exited (end of file, or stopped) and been reaped: their whole CPU time is in.
    const kidsMs = childrenCpuMs() - kids0;
    const frames = Math.max(1, s.frames);
    const r: CamerasRun = {
      cameras: n,
      mode: seconds ? 'live' : 'lossless',
      variant: s.model.variant,
      frames: Object.fromEntries(Object.entries(s.cameras).map(([k, c]) => [k, c.frames])),
      fps: s.fps,
      seconds: s.seconds,
      peakRssMb: process.resourceUsage().maxRSS / 1024,
      agentCpuMsPerFrame: cpuMs / frames,
      loopThreadCpuMsPerFrame: mainMs / frames,
      decoderCpuMsPerFrame: kidsMs / frames,
    };
    process.stdout.write(`${MARK}${JSON.stringify(r)}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function cpuName(): string {
  const model = (() => {
    try {
      return /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? 'unknown CPU';
    } catch {
      return 'unknown CPU';
    }
  })();
  return `${model} (${availableParallelism()} CPUs)`;
}

/** Spread between the most and the least served camera, relative to the most served. */
export function spread(frames: Record<string, number>): number {
  const v = Object.values(frames);
  return v.length ? (Math.max(...v) - Math.min(...v)) / Math.max(1, Math.max(...v)) : 0;
}

export function formatCamerasTable(r: CamerasBenchResult): string {
  const f1 = (x: number): string => x.toFixed(1);
  const f2 = (x: number): string => x.toFixed(2);
  const pc = (x: number): string => `${Math.round(100 * x)}%`;
  const b = r.bare;
  const of = (fps: number): string => pc(fps / b.fps);
  const rows: string[][] = [
    ['run', 'frames/s', 'of bare model', 'per camera (frames)', 'spread', 'CPU ms/frame', 'peak RSS'],
    [`bare model: ${b.variant}, ${b.thread} thread, ${b.intraOpThreads} intra-op, ${b.depth} in flight`, f1(b.fps), '100%', '-', '-', `${f2(b.cpuMsPerCall)} (inference)`, '-'],
    ...r.decode.runs.map((d) => [`ffmpeg alone, the agent's decoder x${d.streams} at once`, f1(d.fps), of(d.fps), `${d.frames / d.streams} each`, '-', `${f2(d.cpuMsPerFrame)} (decode)`, '-']),
    ...r.runs.map((x) => [
      `${x.cameras} camera${x.cameras > 1 ? 's' : ''}, ${x.mode === 'lossless' ? 'clip read in full' : `live ${x.seconds.toFixed(0)} s`}`,
      f1(x.fps),
      of(x.fps),
      Object.values(x.frames).join('/'),
      x.cameras > 1 ? pc(spread(x.frames)) : '-',
      `${f2(x.agentCpuMsPerFrame + x.decoderCpuMsPerFrame)} (agent ${f2(x.agentCpuMsPerFrame)}, of it loop thread ${f2(x.loopThreadCpuMsPerFrame)}; ffmpeg ${f2(x.decoderCpuMsPerFrame)})`,
      `${x.peakRssMb.toFixed(0)} MB`,
    ]),
  ];
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const table = rows.map((row) => row.map((c, i) => c.padEnd(w[i]!)).join('  ')).join('\n');
  const mark = (ok: boolean): string => (ok ? 'PASS' : 'FAIL');
  const lines = [
    table,
    `bare model: the session the agent opens for cameras read in full (${b.threadReason}${b.pinnedCpu !== undefined ? `; pinned to CPU ${b.pinnedCpu}` : ''}), back-to-back calls on a fixed input; the camera runs use ${[...new Set(r.runs.map((x) => x.variant))].join(', ')}`,
    `decoder: ${r.decode.cmd} ${r.decode.args.join(' ')} (drivers/camera's plan for the clip, ${r.decode.decoderThreads} thread${r.decode.decoderThreads === 1 ? '' : 's'}; fd 1 is /dev/null here, the agent's frame pipe in the runs)`,
    ...r.ceilings.map((c) => {
      const run = r.runs.find((x) => x.mode === 'lossless' && x.cameras === c.cameras)!;
      return `CPU ceiling, ${c.cameras} camera${c.cameras > 1 ? 's' : ''}: ${c.cpus} CPUs / (decode ${f2(c.decodeMs)} + inference ${f2(c.inferenceMs)} + agent loop ${f2(c.loopMs)} ms/frame) = ${f1(c.fps)} fps; the agent reaches ${pc(c.ofCeiling)} of it (${f1(run.fps)} fps); with a loop that cost nothing: ${f1(c.zeroLoopFps)} fps`;
    }),
  ];
  const four = r.runs.find((x) => x.mode === 'lossless' && x.cameras === 4);
  const fourCeil = r.ceilings.find((c) => c.cameras === 4);
  if (four && fourCeil) {
    const c = fourCeil;
    // On CPU time (independent of the load while measured): can decoding and inference alone keep up with 90% of
    // what the model does with its threads to itself?
    const best = c.zeroLoopFps / c.bareCpuFps;
    lines.push(
      `target: 4 cameras aggregate >= 90% of the bare model: ${mark(four.fps >= 0.9 * b.fps)} (${f1(four.fps)} of ${f1(b.fps)} fps = ${of(four.fps)})`,
      `  on CPU time: the bare call takes ${f2(c.inferenceMs)} ms of ${Math.min(c.cpus, b.intraOpThreads)} CPU (${f1(c.bareCpuFps)} fps); decoding + inference take ${f2(c.decodeMs + c.inferenceMs)} ms of the ${c.cpus} CPUs per frame (${f1(c.zeroLoopFps)} fps) = ${pc(best)} of it: ${best >= 0.9 ? 'the target is within reach here' : 'the target is out of reach on this machine with CPU decoding, whatever the agent does (hardware decoding or more cores would lift it)'}`,
    );
  }
  const live = r.runs.find((x) => x.mode === 'live');
  if (live) lines.push(`target: each camera served within 25% of the others (live): ${mark(spread(live.frames) <= 0.25)} (${pc(spread(live.frames))})`);
  for (const x of r.runs.filter((y) => y.mode === 'lossless')) {
    const limit = x.cameras === 1 ? 150 : 250;
    lines.push(`target: peak RSS with ${x.cameras} camera${x.cameras > 1 ? 's' : ''} < ${limit} MB: ${mark(x.peakRssMb < limit)} (${f1(x.peakRssMb)} MB)`);
  }
  lines.push(`(${r.cpu}; load average ${r.loadavg.join(' ')} at the end; machine shared with other work while measured)`);
  return `${lines.join('\n')}\n`;
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { child: { type: 'string' }, seconds: { type: 'string' }, json: { type: 'boolean' } } });
  if (values.child) return camerasChild(Number(values.child), values.seconds ? Number(values.seconds) : undefined);
  const r = await benchCameras();
  process.stdout.write(values.json ? `${JSON.stringify(r, null, 1)}\n` : formatCamerasTable(r));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`bench cameras: ${err instanceof AgentError ? err.oneLine() : String(err)}\n`);
      process.exit(1);
    },
  );
}
