import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentError, messageOf } from '../../agent/errors.js';
import { loadOrt } from './session.js';

/** One kernel ONNX Runtime executed for one node of its optimised graph. */
export interface KernelRun {
  /** Node name in the optimised graph (fused nodes get new names, e.g. "..._token_6" or "..._nchwc"). */
  node: string;
  /** The operator the kernel implements (QLinearConv, Conv, DequantizeLinear, NhwcMaxPool...). */
  op: string;
  provider: string;
  /** Element type of each input ("float", "uint8", ...), as the trace lists them. */
  inputTypes: string[];
  /** Microseconds, summed over the profiled runs. */
  durUs: number;
}

/**
 * Runs a model a few times with ONNX Runtime's profiler on and returns the kernels that ran, one entry per node of
 * the optimised graph. onnxruntime-node 1.30 takes SessionOptions `enableProfiling` and `profileFilePrefix` and
 * writes the trace when `session.endProfiling()` is called: a JSON array of Chrome-trace events, where every kernel
 * execution is an event with cat "Node", a name "<node>_kernel_time" and args { op_name, provider, node_index,
 * input_type_shape: [{ <type>: dims }] } (written by KernelProfileScope in onnxruntime/core/framework/
 * sequential_executor.cc). `extra` session config entries (e.g. { session: { disable_quant_qdq: '1' } }) are passed on.
 */
export async function profileKernels(model: Uint8Array, feeds: Record<string, { data: Float32Array; dims: number[] }>, opts: { runs?: number; extra?: Record<string, unknown> } = {}): Promise<KernelRun[]> {
  const ort = await loadOrt();
  const dir = mkdtempSync(join(tmpdir(), 'edge-agent-ortprof-'));
  try {
    let session;
    try {
      session = await ort.InferenceSession.create(model, {
        intraOpNumThreads: 1,
        interOpNumThreads: 1,
        graphOptimizationLevel: 'all',
        logSeverityLevel: 3,
        enableProfiling: true,
        profileFilePrefix: join(dir, 'profile'),
        ...(opts.extra ? { extra: opts.extra } : {}),
      });
    } catch (err) {
      throw new AgentError('MODEL_INVALID', `ONNX Runtime cannot load the model to profile it (${messageOf(err).split('\n')[0]})`, { fix: 'check that the file is a complete ONNX model with operators ONNX Runtime supports' });
    }
    try {
      const ortFeeds = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, new ort.Tensor('float32', v.data, v.dims)]));
      for (let i = 0; i < (opts.runs ?? 3); i++) {
        const out = await session.run(ortFeeds);
        for (const t of Object.values(out)) t.dispose();
      }
      session.endProfiling();
    } finally {
      await session.release();
    }
    const file = readdirSync(dir).find((f) => f.endsWith('.json'));
    if (!file) throw new AgentError('BACKEND_FAILED', `ONNX Runtime wrote no profile into ${dir}`, { fix: 'this onnxruntime-node build may lack profiling; the kernel check is skipped' });
    return kernelsOfTrace(JSON.parse(readFileSync(join(dir, file), 'utf8')) as unknown);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface TraceEvent {
  cat?: string;
  name?: string;
  dur?: number;
  args?: { op_name?: string; provider?: string; node_index?: string; input_type_shape?: Array<Record<string, unknown>> };
}

/** The kernel events of a trace, one entry per node (runs summed). Pure: the trace is data. */
export function kernelsOfTrace(trace: unknown): KernelRun[] {
  const events = Array.isArray(trace) ? (trace as TraceEvent[]) : [];
  const byNode = new Map<string, KernelRun>();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name?.endsWith('_kernel_time') || !e.args?.op_name) continue;
    const node = e.name.slice(0, -'_kernel_time'.length);
    const key = `${e.args.node_index ?? ''}|${node}`;
    const seen = byNode.get(key);
    if (seen) {
      seen.durUs += e.dur ?? 0;
      continue;
    }
    const inputTypes = (e.args.input_type_shape ?? []).map((x) => Object.keys(x)[0] ?? '?');
    byNode.set(key, { node, op: e.args.op_name, provider: e.args.provider ?? 'unknown', inputTypes, durUs: e.dur ?? 0 });
  }
  return [...byNode.values()];
}
