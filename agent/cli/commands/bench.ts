import { parseCommandArgs } from '../args.js';
import { AgentError, ExitCode, messageOf } from '../../errors.js';
import { createLogger } from '../../log.js';
import { loadManifest, type LoadedManifest, type VariantSpec } from '../../model/manifest.js';
import { resolveInferenceThread } from '../../model/inference-thread.js';
import type { ModelHost } from '../../model/host.js';
import { packageRoot, resolveStateDir } from '../../paths.js';
import { configPath, loadConfigFile } from '../../config/load.js';
import { modelConfigSchema } from '../../config/sections/model.js';
import { benchCachePath, hardwareFingerprint, recordBench, runnable, type SelectionConfig } from '../../select/index.js';
import type { InferenceBackend, InputData } from '../../types.js';
import { agentDrivers, createModelHost, probeHardware } from '../../app/compose.js';
import { join } from 'node:path';

/** Frames read from --source when --frames gives no count. */
const DEFAULT_SOURCE_FRAMES = 30;

export const summary = 'measure every variant of a model here; cache the latencies used for selection';

const usage = `
usage: edge-agent bench [--config FILE] [--model MANIFEST] [--runs N] [--threads N] [--inference-thread auto|main|worker]
                        [--state-dir DIR] [--frames DIR | --source URI [--frames N]] [--json]

  --config FILE     take model.manifest, model.threads, model.selection (alpha, beta) and stateDir from FILE
  --model MANIFEST  model manifest or folder (default: the config's, else the bundled conveyor demo model)
  --runs N          timed inferences per variant after 20 warm-up runs (default 200)
  --threads N       inference threads (default 1)
  --inference-thread auto|main|worker
                    where the calls run, as model.inferenceThread (default auto: the thread the agent picks
                    here for a camera; a file read in full may run in the worker, ~5 % apart). Only auto's
                    figures are cached for selection; the others are printed for comparison
  --state-dir DIR   where the benchmark cache is kept (default: $STATE_DIRECTORY or ./state)
  --frames DIR      also measure each variant's agreement with its reference (fp32) on these pictures of
                    your scene and cache it for selection (agent/select/agreement.ts)
  --source URI      the same on N frames (--frames N, default ${DEFAULT_SOURCE_FRAMES}) spread over a video file of your
                    scene (or read from a stream or camera ffmpeg can open), scaled as the agent scales them
  --json            print the results as JSON

Latency is the backend call alone (median and p99). Utility U = alpha*mAP50 - beta*latency_ms with the
config's model.selection alpha and beta (default 100 and 1). Energy per inference E = P_static*t + P_dynamic*FLOPs uses the board's power class.
`;

export interface BenchRow {
  variant: string;
  runtime: string;
  accelerator: string;
  precision: string;
  ranOn: string | null;
  /** The thread the calls ran in (a TFLite backend always invokes on its own). */
  thread?: 'worker' | 'main';
  medianMs: number | null;
  p99Ms: number | null;
  mAP50: number | null;
  utility: number | null;
  energyMJ: number | null;
  flops: number | null;
  skipped?: string;
}

export async function run(argv: string[]): Promise<number> {
  const { values, help } = parseCommandArgs(
    argv,
    { config: { type: 'string' }, model: { type: 'string' }, runs: { type: 'string' }, threads: { type: 'string' }, 'state-dir': { type: 'string' }, json: { type: 'boolean' }, 'inference-thread': { type: 'string' }, frames: { type: 'string' }, source: { type: 'string' } },
    usage,
  );
  if (help) return ExitCode.ok;
  const loaded = values.config ? loadConfigFile(values.config) : undefined;
  const runs = positiveInt(values.runs, 'runs', 200);
  const threads = positiveInt(values.threads, 'threads', loaded?.config.model.threads ?? 1);
  const threadSetting = values['inference-thread'] ?? 'auto';
  if (threadSetting !== 'auto' && threadSetting !== 'main' && threadSetting !== 'worker') {
    throw new AgentError('USAGE', `--inference-thread must be auto, main or worker, not "${threadSetting}"`, { fix: 'pass --inference-thread auto, main or worker' });
  }
  const thread = resolveInferenceThread(threadSetting).thread;
  const frames = agreementFrames(values.frames, values.source);
  // The selector reads the cache for the thread auto picks; another thread's figures would stand in for it.
  const autoThread = resolveInferenceThread('auto').thread;
  const cache = thread === autoThread;
  const log = createLogger({ level: (process.env.EDGE_AGENT_LOG_LEVEL as 'info' | undefined) ?? 'warn' });
  const manifest = loadManifest(values.model ?? (loaded ? configPath(loaded, loaded.config.model.manifest) : join(packageRoot(), 'models', 'conveyor-demo')));
  const stateDir = resolveStateDir({ flag: values['state-dir'], configStateDir: loaded?.config.stateDir, configBaseDir: loaded?.baseDir });
  const selection = loaded?.config.model.selection ?? modelConfigSchema.parse({ manifest: manifest.path }).selection;
  const rows = await benchManifest(manifest, { runs, threads, stateDir, log, thread, cache, selection, progress: !values.json && Boolean(process.stderr.isTTY) });
  const { benchAgreements, formatAgreements } = await import('../../../scripts/optimize/agreement-bench.js');
  const agreement = frames ? await benchAgreements(manifest, { frames, stateDir, fingerprint: hardwareFingerprint((await probeHardware()).profile), cache }) : undefined;
  if (values.json) process.stdout.write(`${JSON.stringify({ model: manifest.name, cached: cache, rows, ...(agreement ? { agreement } : {}) }, null, 1)}\n`);
  else {
    process.stdout.write(formatBench(manifest.name, rows));
    if (agreement) process.stdout.write(formatAgreements(agreement));
    process.stdout.write(cache ? `cached for selection in ${benchCachePath(stateDir)}\n` : `not cached: the agent runs inference in the ${autoThread} thread here (--inference-thread auto)\n`);
  }
  return rows.some((r) => r.medianMs !== null) ? ExitCode.ok : ExitCode.failure;
}

export async function benchManifest(
  manifest: LoadedManifest,
  o: { runs: number; threads: number; stateDir: string; log: ReturnType<typeof createLogger>; progress?: boolean; selection?: SelectionConfig; thread?: 'worker' | 'main'; cache?: boolean; host?: ModelHost },
): Promise<BenchRow[]> {
  // The config's utility weights (model.selection), the schema's defaults when no config is given.
  const selection = o.selection ?? modelConfigSchema.parse({ manifest: manifest.path }).selection;
  const host = o.host ?? createModelHost({ manifest, settings: modelConfigSchema.parse({ manifest: manifest.path, threads: o.threads, selection }), stateDir: o.stateDir, job: 'live', log: o.log });
  const { profile, capabilities: caps } = await host.hardware();
  const fp = hardwareFingerprint(profile);
  const energyOf = agentDrivers().energyPerInferenceJ;
  const { alpha, beta } = selection;
  const rows: BenchRow[] = [];
  try {
    for (const v of manifest.variants) await benchVariant(v);
  } finally {
    if (!o.host) await host.close();
  }
  return rows;

  async function benchVariant(v: VariantSpec): Promise<void> {
    const flops = await host.flopsOf(v.name);
    const base = { variant: v.name, runtime: v.runtime, accelerator: v.accelerator, precision: v.precision, mAP50: v.accuracy?.mAP50 ?? null, flops: flops ?? null };
    const usable = runnable(caps, v.runtime, v.accelerator);
    if (!usable.usable) {
      rows.push({ ...base, ranOn: null, medianMs: null, p99Ms: null, utility: null, energyMJ: null, skipped: usable.reason ?? 'cannot run here' });
      return;
    }
    let backend: InferenceBackend | undefined;
    try {
      const opened = await host.openVariant(v.name, { verify: true, thread: o.thread ?? resolveInferenceThread('auto').thread });
      backend = opened.backend;
      const times = await timeRuns(backend, opened.input.name, inputFor(opened.input.shape, backend), o.runs, o.progress ? v.name : undefined);
      const median = pct(times, 50);
      const p99 = pct(times, 99);
      if (o.cache ?? true) recordBench(benchCachePath(o.stateDir), fp, v.sha256, { variant: v.name, medianMs: median, p99Ms: p99, runs: times.length, measuredAt: new Date().toISOString(), accelerator: backend.accelerator() });
      const energy = flops !== undefined ? energyOf(profile, v.accelerator, median, flops) * 1000 : null;
      rows.push({ ...base, ranOn: backend.accelerator(), thread: backend.runsIn?.() ?? 'main', medianMs: median, p99Ms: p99, utility: v.accuracy?.mAP50 !== undefined ? alpha * v.accuracy.mAP50 - beta * median : null, energyMJ: energy });
    } catch (err) {
      rows.push({ ...base, ranOn: null, medianMs: null, p99Ms: null, utility: null, energyMJ: null, skipped: messageOf(err) });
    } finally {
      if (backend) await host.release(backend);
    }
  }
}

function inputFor(shape: number[], backend: InferenceBackend): InputData {
  const n = shape.reduce((a, b) => a * b, 1);
  const dtype = backend.inputs()[0]?.dtype ?? 'float32';
  // A fixed pseudo-random picture: constant inputs can take fast paths some kernels have for zeros.
  let x = 12345;
  const next = (): number => ((x = (x * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  if (dtype === 'uint8') return Uint8Array.from({ length: n }, () => Math.floor(next() * 256));
  if (dtype === 'int8') return Int8Array.from({ length: n }, () => Math.floor(next() * 256) - 128);
  return Float32Array.from({ length: n }, () => next());
}

async function timeRuns(backend: InferenceBackend, name: string, input: InputData, runs: number, label?: string): Promise<number[]> {
  for (let i = 0; i < 20; i++) await backend.run({ [name]: input });
  const bar = label ? await progressBar(label, runs) : undefined;
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await backend.run({ [name]: input });
    times.push(performance.now() - t0);
    bar?.update(i + 1);
  }
  bar?.stop();
  return times;
}

async function progressBar(label: string, total: number): Promise<{ update(n: number): void; stop(): void }> {
  const { default: cliProgress } = await import('cli-progress');
  const bar = new cliProgress.SingleBar({ format: `${label.padEnd(16)} [{bar}] {value}/{total} runs, ETA {eta}s`, stream: process.stderr }, cliProgress.Presets.shades_classic);
  bar.start(total, 0);
  return bar;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** --frames DIR, or --source URI with --frames N (the count, as for optimize --source URI --frames N). */
function agreementFrames(frames: string | undefined, source: string | undefined): { dir: string } | { source: string; count: number } | undefined {
  if (source === undefined) return frames === undefined ? undefined : { dir: frames };
  if (frames !== undefined && !/^\d+$/.test(frames)) {
    throw new AgentError('USAGE', `--frames ${frames}: with --source it is the number of frames to read, not a folder`, { fix: `give --source ${source} --frames ${DEFAULT_SOURCE_FRAMES}, or --frames DIR without --source` });
  }
  return { source, count: positiveInt(frames, 'frames', DEFAULT_SOURCE_FRAMES) };
}

function positiveInt(v: string | undefined, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new AgentError('USAGE', `--${name} ${v}: not a positive whole number`, { fix: `give e.g. --${name} ${dflt}` });
  return n;
}

export function formatBench(model: string, rows: BenchRow[]): string {
  const head = ['variant', 'runtime', 'accel', 'thread', 'prec', 'median ms', 'p99 ms', 'mAP@0.5', 'U', 'E mJ', 'GFLOPs'];
  const f = (x: number | null, d = 2): string => (x === null ? '-' : x.toFixed(d));
  const body = rows.map((r) => [r.variant, r.runtime, r.ranOn ?? r.accelerator, r.thread ?? '-', r.precision, f(r.medianMs), f(r.p99Ms), f(r.mAP50, 3), f(r.utility, 1), f(r.energyMJ, 1), r.flops === null ? '-' : (r.flops / 1e9).toFixed(3)]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  const out = [`model ${model}`, line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)];
  for (const r of rows) if (r.skipped) out.push(`  ${r.variant}: not measured: ${r.skipped}`);
  return `${out.join('\n')}\n`;
}

