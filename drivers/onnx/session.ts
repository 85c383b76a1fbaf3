import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as Ort from 'onnxruntime-node';
import { AgentError, messageOf } from '../../agent/errors.js';

/**
 * Thin helpers over onnxruntime-node for the model tools (calibration, evaluation, latency): sessions from
 * in-memory model bytes, float runs, and ORT's own graph optimiser used as a pre-processing pass.
 * onnxruntime-node is imported lazily so that importing this module costs nothing until a model is run.
 */

let ortModule: typeof Ort | undefined;

export async function loadOrt(): Promise<typeof Ort> {
  if (!ortModule) {
    try {
      ortModule = await import('onnxruntime-node');
    } catch (err) {
      throw new AgentError('BACKEND_UNAVAILABLE', `onnxruntime-node cannot be loaded (${messageOf(err)})`, { fix: 'reinstall the package: npm install onnxruntime-node' });
    }
  }
  return ortModule;
}

export interface SessionOptions {
  threads?: number;
  /** ORT graph optimisation; 'all' for speed measurements, 'disabled' to see the graph as written. */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
}

export interface FloatRunner {
  inputNames: readonly string[];
  outputNames: readonly string[];
  /** Runs one inference; every output converted to Float32Array. */
  run(feeds: Record<string, { data: Float32Array; dims: number[] }>, fetch?: string[]): Promise<Record<string, { data: Float32Array; dims: number[] }>>;
  release(): Promise<void>;
}

export async function createRunner(model: Uint8Array | string, opts: SessionOptions = {}): Promise<FloatRunner> {
  const ort = await loadOrt();
  let session: Ort.InferenceSession;
  try {
    const so: Ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: opts.threads ?? 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: opts.optimization ?? 'all',
      logSeverityLevel: 3,
    };
    session = typeof model === 'string' ? await ort.InferenceSession.create(model, so) : await ort.InferenceSession.create(model, so);
  } catch (err) {
    throw new AgentError('MODEL_INVALID', `ONNX Runtime cannot load the model (${messageOf(err).split('\n')[0]})`, {
      fix: 'check that the file is a complete ONNX model with operators ONNX Runtime supports',
    });
  }
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    async run(feeds, fetch) {
      const ortFeeds: Record<string, Ort.Tensor> = {};
      for (const [k, v] of Object.entries(feeds)) ortFeeds[k] = new ort.Tensor('float32', v.data, v.dims);
      const out = fetch ? await session.run(ortFeeds, fetch) : await session.run(ortFeeds);
      const res: Record<string, { data: Float32Array; dims: number[] }> = {};
      for (const [k, t] of Object.entries(out)) {
        const d = t.data;
        res[k] = { data: d instanceof Float32Array ? d : Float32Array.from(d as ArrayLike<number>, Number), dims: [...t.dims] };
        t.dispose();
      }
      return res;
    },
    release: () => session.release(),
  };
}

/**
 * Runs ORT's graph optimiser at the given level on a model and returns the optimised model. At 'basic' ORT
 * applies only semantics-preserving rewrites that keep standard ONNX operators (constant folding, folding
 * BatchNormalization/Mul/Add into Conv, dropping Identity/Dropout): exactly the clean-up wanted before
 * quantising (onnxruntime's own quantisation pre-processing does the same).
 */
export async function optimizeWithOrt(model: Uint8Array, level: 'basic' = 'basic'): Promise<Uint8Array> {
  const ort = await loadOrt();
  const dir = mkdtempSync(join(tmpdir(), 'edge-agent-ortopt-'));
  const out = join(dir, 'optimized.onnx');
  try {
    const s = await ort.InferenceSession.create(model, { graphOptimizationLevel: level, optimizedModelFilePath: out, logSeverityLevel: 3, intraOpNumThreads: 1 });
    await s.release();
    return readFileSync(out);
  } catch (err) {
    throw new AgentError('MODEL_INVALID', `ONNX Runtime cannot load the model (${messageOf(err).split('\n')[0]})`, {
      fix: 'check that the file is a complete ONNX model with operators ONNX Runtime supports',
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface LatencyStats {
  /** Wall-clock median and 90th percentile. */
  medianMs: number;
  p90Ms: number;
  /** Fastest run: the compute time when nothing else got in the way. */
  minMs: number;
  /**
   * Median CPU time (user + system of this process) per inference. On a machine shared with other jobs the wall
   * time includes waiting for a core; CPU time does not, so ratios between models stay meaningful.
   */
  cpuMedianMs: number;
  runs: number;
}

/**
 * Median latency of one inference per model, in ms: ONNX Runtime CPU, full graph optimisation, the given
 * threads (1 by default: the steadiest figure on a shared machine), after warm-up. The models are timed in
 * interleaved rounds (A, B, C, A, B, C...) so that a burst of load from other processes hits all of them alike
 * and the ratios stay fair.
 */
export async function measureLatencies(
  models: Array<Uint8Array | string>,
  feeds: Record<string, { data: Float32Array; dims: number[] }>,
  opts: { runs?: number; warmup?: number; threads?: number; now?: () => number } = {},
): Promise<LatencyStats[]> {
  const runners: FloatRunner[] = [];
  const now = opts.now ?? (() => performance.now());
  try {
    for (const m of models) runners.push(await createRunner(m, { threads: opts.threads ?? 1, optimization: 'all' }));
    for (let i = 0; i < (opts.warmup ?? 5); i++) for (const r of runners) await r.run(feeds);
    const times = runners.map(() => [] as number[]);
    const cpu = runners.map(() => [] as number[]);
    for (let i = 0; i < (opts.runs ?? 30); i++) {
      for (const [k, r] of runners.entries()) {
        const c0 = process.cpuUsage();
        const t0 = now();
        await r.run(feeds);
        times[k]!.push(now() - t0);
        const c = process.cpuUsage(c0);
        cpu[k]!.push((c.user + c.system) / 1000);
      }
    }
    const median = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
    return times.map((t, k) => {
      const sorted = [...t].sort((a, b) => a - b);
      return { medianMs: median(t), p90Ms: sorted[Math.floor(t.length * 0.9)]!, minMs: sorted[0]!, cpuMedianMs: median(cpu[k]!), runs: t.length };
    });
  } finally {
    for (const r of runners) await r.release();
  }
}

/** Median latency of one model (see measureLatencies). */
export async function measureLatency(
  model: Uint8Array | string,
  feeds: Record<string, { data: Float32Array; dims: number[] }>,
  opts: { runs?: number; warmup?: number; threads?: number; now?: () => number } = {},
): Promise<LatencyStats> {
  return (await measureLatencies([model], feeds, opts))[0]!;
}
