import { parseCommandArgs } from '../args.js';
import { AgentError, ExitCode, messageOf } from '../../errors.js';
import { createLogger } from '../../log.js';
import { loadManifest, manifestPath, type LoadedManifest, type VariantSpec } from '../../model/manifest.js';
import { countFlops } from '../../../drivers/onnx/flops.js';
import { resolveInferenceThread } from '../../model/inference-thread.js';
import { openVariant } from '../../model/open-variant.js';
import { defaultStateDir } from '../../events/registry.js';
import { packageRoot } from '../../paths.js';
import { benchCachePath, hardwareFingerprint, recordBench, runnable } from '../../select/index.js';
import type { InferenceBackend, InputData } from '../../types.js';
import { createBackend } from '../../../drivers/inference/registry.js';
import { acceleratorPowerClass, detectCapabilities, energyPerInferenceJ, powerClassOf, probe } from '../../../drivers/probe/index.js';
import { join, resolve } from 'node:path';

export const summary = 'measure every variant of a model here; cache the latencies used for selection';

const usage = `
usage: edge-agent bench [--model MANIFEST] [--runs N] [--threads N] [--inference-thread auto|main|worker] [--state-dir DIR] [--json]

  --model MANIFEST  model manifest or folder (default: the bundled conveyor demo model)
  --runs N          timed inferences per variant after 20 warm-up runs (default 200)
  --threads N       inference threads (default 1)
  --inference-thread auto|main|worker
                    where the calls run, as model.inferenceThread (default auto: the thread the agent picks
                    here for a camera; a file read in full may run in the worker, ~5 % apart). Only auto's
                    figures are cached for selection; the others are printed for comparison
  --state-dir DIR   where the benchmark cache is kept (default: $STATE_DIRECTORY or ./state)
  --frames DIR      also measure each variant's agreement with its reference (fp32) on these pictures of
                    your scene and cache it for selection (agent/select/agreement.ts)
  --json            print the results as JSON

Latency is the backend call alone (median and p99). Utility U = alpha*mAP50 - beta*latency_ms with the
default alpha 100, beta 1. Energy per inference E = P_static*t + P_dynamic*FLOPs uses the board's power class.
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
    { model: { type: 'string' }, runs: { type: 'string' }, threads: { type: 'string' }, 'state-dir': { type: 'string' }, json: { type: 'boolean' }, 'inference-thread': { type: 'string' }, frames: { type: 'string' } },
    usage,
  );
  if (help) return ExitCode.ok;
  const runs = positiveInt(values.runs, 'runs', 200);
  const threads = positiveInt(values.threads, 'threads', 1);
  const threadSetting = values['inference-thread'] ?? 'auto';
  if (threadSetting !== 'auto' && threadSetting !== 'main' && threadSetting !== 'worker') {
    throw new AgentError('USAGE', `--inference-thread must be auto, main or worker, not "${threadSetting}"`, { fix: 'pass --inference-thread auto, main or worker' });
  }
  const thread = resolveInferenceThread(threadSetting).thread;
  // The selector reads the cache for the thread auto picks; another thread's figures would stand in for it.
  const autoThread = resolveInferenceThread('auto').thread;
  const cache = thread === autoThread;
  const log = createLogger({ level: (process.env.EDGE_AGENT_LOG_LEVEL as 'info' | undefined) ?? 'warn' });
  const manifest = loadManifest(values.model ?? join(packageRoot(), 'models', 'conveyor-demo'));
  const stateDir = resolve(values['state-dir'] ?? defaultStateDir());
  const rows = await benchManifest(manifest, { runs, threads, stateDir, log, thread, cache, progress: !values.json && Boolean(process.stderr.isTTY) });
  const { benchAgreements, formatAgreements } = await import('../../select/agreement-bench.js');
  const agreement = values.frames ? await benchAgreements(manifest, { dir: values.frames, stateDir, fingerprint: hardwareFingerprint(probe('/')), cache }) : undefined;
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
  o: { runs: number; threads: number; stateDir: string; log: ReturnType<typeof createLogger>; progress?: boolean; alpha?: number; beta?: number; thread?: 'worker' | 'main'; cache?: boolean },
): Promise<BenchRow[]> {
  const profile = probe('/');
  const caps = await detectCapabilities(profile, { packageRoot: packageRoot() });
  const fp = hardwareFingerprint(profile);
  const power = powerClassOf(profile) ?? 'x86-desktop';
  const alpha = o.alpha ?? 100;
  const beta = o.beta ?? 1;
  const rows: BenchRow[] = [];
  for (const v of manifest.variants) {
    const flops = v.flops ?? countedFlops(manifest, v);
    const base = { variant: v.name, runtime: v.runtime, accelerator: v.accelerator, precision: v.precision, mAP50: v.accuracy?.mAP50 ?? null, flops: flops ?? null };
    const usable = runnable(caps, v.runtime, v.accelerator);
    if (!usable.usable) {
      rows.push({ ...base, ranOn: null, medianMs: null, p99Ms: null, utility: null, energyMJ: null, skipped: usable.reason ?? 'cannot run here' });
      continue;
    }
    let backend: InferenceBackend | undefined;
    try {
      const opened = await openVariant(manifest, v, { threads: o.threads, verify: true, log: o.log, createBackend, thread: o.thread ?? resolveInferenceThread('auto').thread });
      backend = opened.backend;
      const times = await timeRuns(backend, opened.input.name, inputFor(opened.input.shape, backend), o.runs, o.progress ? v.name : undefined);
      const median = pct(times, 50);
      const p99 = pct(times, 99);
      if (o.cache ?? true) recordBench(benchCachePath(o.stateDir), fp, v.sha256, { variant: v.name, medianMs: median, p99Ms: p99, runs: times.length, measuredAt: new Date().toISOString(), accelerator: backend.accelerator() });
      const energy = flops !== undefined ? energyPerInferenceJ(power, median, flops, acceleratorPowerClass(profile, v.accelerator)) * 1000 : null;
      rows.push({ ...base, ranOn: backend.accelerator(), thread: backend.runsIn?.() ?? 'main', medianMs: median, p99Ms: p99, utility: v.accuracy?.mAP50 !== undefined ? alpha * v.accuracy.mAP50 - beta * median : null, energyMJ: energy });
    } catch (err) {
      rows.push({ ...base, ranOn: null, medianMs: null, p99Ms: null, utility: null, energyMJ: null, skipped: messageOf(err) });
    } finally {
      await backend?.close().catch(() => undefined);
    }
  }
  return rows;
}

/** FLOPs counted from the ONNX graph when the manifest does not give them (TFLite graphs are not counted). */
function countedFlops(m: LoadedManifest, v: VariantSpec): number | undefined {
  if (v.runtime !== 'onnxruntime') return undefined;
  try {
    return countFlops(manifestPath(m, v.file)).total;
  } catch {
    return undefined;
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

