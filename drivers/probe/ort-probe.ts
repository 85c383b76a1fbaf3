import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import type { Usability } from '../../agent/select/hardware.js';
import { TINY_ADD_MODEL_BASE64, tinyAddExpected, tinyAddInput } from './tiny-model.js';

const require = createRequire(import.meta.url);

export type OrtProvider = 'cpu' | 'cuda' | 'tensorrt';

export type OrtProbeResult =
  | { ok: true; version: string; providers: Record<OrtProvider, Usability> }
  | { ok: false; error: string };

const providersToTry: readonly OrtProvider[] = ['cpu', 'cuda', 'tensorrt'];

/**
 * Runs in a child process: loads onnxruntime-node from the given path and, for each provider, creates a
 * session on the tiny model and runs it once. Prints one JSON line. A child, because a broken GPU install can
 * crash or hang the process that loads its provider library, and because ORT applies `env.logLevel` once per
 * process (keeping the expected "Failed to load shared library" errors off the agent's stderr without
 * silencing the agent's own ONNX Runtime warnings).
 */
const childScript = `
import { createRequire } from 'node:module';
const require = createRequire(process.execPath);
const ort = require(process.env.EDGE_AGENT_ORT_PATH);
ort.env.logLevel = 'fatal';
const model = new Uint8Array(Buffer.from(process.env.EDGE_AGENT_PROBE_MODEL, 'base64'));
const input = JSON.parse(process.env.EDGE_AGENT_PROBE_INPUT);
const out = { version: (ort.env.versions && (ort.env.versions.node || ort.env.versions.common)) || 'unknown', providers: {} };
for (const ep of process.env.EDGE_AGENT_PROBE_EPS.split(',')) {
  try {
    const s = await ort.InferenceSession.create(model, { executionProviders: [ep], logSeverityLevel: 4 });
    try {
      const r = await s.run({ x: new ort.Tensor('float32', Float32Array.from(input), [1, input.length]) });
      out.providers[ep] = { y: Array.from(r.y.data) };
    } finally {
      await s.release();
    }
  } catch (e) {
    out.providers[ep] = { error: String((e && e.message) || e).split('\\n')[0] };
  }
}
process.stdout.write(JSON.stringify(out) + '\\n');
`;

interface ChildOut {
  version: string;
  providers: Record<string, { y?: number[]; error?: string }>;
}

type ChildResult = { ok: true; out: ChildOut } | { ok: false; error: string };

function runChild(ortPath: string, eps: readonly OrtProvider[], timeoutMs: number): Promise<ChildResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', childScript],
      {
        timeout: timeoutMs,
        maxBuffer: 1 << 20,
        env: {
          ...process.env,
          EDGE_AGENT_ORT_PATH: ortPath,
          EDGE_AGENT_PROBE_MODEL: TINY_ADD_MODEL_BASE64,
          EDGE_AGENT_PROBE_INPUT: JSON.stringify(tinyAddInput),
          EDGE_AGENT_PROBE_EPS: eps.join(','),
        },
      },
      (err, stdout, stderr) => {
        const line = stdout.trim().split('\n').pop() ?? '';
        if (!err && line.startsWith('{')) {
          try {
            return resolve({ ok: true, out: JSON.parse(line) as ChildOut });
          } catch {
            // fall through to the error report
          }
        }
        const e = err as (Error & { signal?: string; killed?: boolean }) | null;
        const why = e?.killed ? `timed out after ${timeoutMs} ms` : e?.signal ? `crashed (${e.signal})` : (stderr.trim().split('\n').pop() ?? e?.message ?? 'no output');
        resolve({ ok: false, error: why });
      },
    );
  });
}

function verdict(ep: OrtProvider, r: { y?: number[]; error?: string } | undefined): Usability {
  if (!r) return { usable: false, reason: 'not tried' };
  if (r.error !== undefined) return { usable: false, reason: r.error };
  const y = r.y ?? [];
  return y.length === tinyAddExpected.length && y.every((v, i) => v === tinyAddExpected[i])
    ? { usable: true, detail: 'session created and computed the known answer' }
    : { usable: false, reason: `wrong answer from ${ep}: [${y.join(', ')}] instead of [${tinyAddExpected.join(', ')}]` };
}

/**
 * Real ONNX Runtime probe: each provider really creates a session on the tiny model, in a child process.
 * If the child dies (a provider library crashing the process), each provider is retried alone so the one
 * that crashes is named and the others still get their answer.
 */
export async function realOrtProbe(opts: { ortPath?: string; timeoutMs?: number } = {}): Promise<OrtProbeResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  let ortPath: string;
  try {
    ortPath = opts.ortPath ?? require.resolve('onnxruntime-node');
  } catch (err) {
    return { ok: false, error: `onnxruntime-node is not installed (${(err as Error).message.split('\n')[0]})` };
  }
  const all = await runChild(ortPath, providersToTry, timeoutMs);
  if (all.ok) {
    const providers = Object.fromEntries(providersToTry.map((ep) => [ep, verdict(ep, all.out.providers[ep])])) as Record<OrtProvider, Usability>;
    return { ok: true, version: all.out.version, providers };
  }
  const providers = {} as Record<OrtProvider, Usability>;
  let version: string | undefined;
  for (const ep of providersToTry) {
    const one = await runChild(ortPath, [ep], timeoutMs);
    if (one.ok) {
      version ??= one.out.version;
      providers[ep] = verdict(ep, one.out.providers[ep]);
    } else {
      providers[ep] = { usable: false, reason: `trying the ${ep} provider ${one.error}` };
    }
  }
  if (!version) return { ok: false, error: `onnxruntime-node does not load: ${all.error}` };
  return { ok: true, version, providers };
}
