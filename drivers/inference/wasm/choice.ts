import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Capabilities } from '../../../agent/select/hardware.js';
import { messageOf } from '../../../agent/errors.js';
import { tinyAddExpected, tinyAddInput, tinyAddModel } from '../../probe/tiny-model.js';
import { loadOrtWeb, ortWebVersion } from './ort-web.js';

export type OrtBackendKind = 'native' | 'wasm';

export interface OrtBackendChoice {
  backend: OrtBackendKind;
  reason: string;
}

/**
 * Which ONNX Runtime build runs ONNX models here: onnxruntime-node (native) when it ships a binary for this platform,
 * else onnxruntime-web's WebAssembly build. EDGE_AGENT_ORT_BACKEND=wasm|native overrides (tests, comparisons).
 * Cheap: looks for the binding file, loads nothing.
 */
export function ortBackendChoice(env: NodeJS.ProcessEnv = process.env, platform = process.platform, arch = process.arch): OrtBackendChoice {
  const forced = env.EDGE_AGENT_ORT_BACKEND;
  if (forced === 'wasm' || forced === 'native') return { backend: forced, reason: `EDGE_AGENT_ORT_BACKEND=${forced}` };
  const binding = nativeBinding(platform, arch);
  if (binding.ok) return { backend: 'native', reason: `onnxruntime-node has a ${platform}/${arch} build` };
  return { backend: 'wasm', reason: binding.reason };
}

/** onnxruntime-node's binding for this platform (bin/napi-v6/<platform>/<arch>/onnxruntime_binding.node). */
function nativeBinding(platform: string, arch: string): { ok: true } | { ok: false; reason: string } {
  let root: string;
  try {
    root = dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
  } catch {
    return { ok: false, reason: 'onnxruntime-node is not installed' };
  }
  const file = join(root, 'bin', 'napi-v6', platform, arch, 'onnxruntime_binding.node');
  if (existsSync(file)) return { ok: true };
  const what = arch === 'arm' ? `${platform}/arm (32-bit ARM, e.g. armhf Raspberry Pi OS)` : `${platform}/${arch}`;
  return { ok: false, reason: `onnxruntime-node ships no build for ${what}` };
}

/**
 * The WebAssembly backend really computes here: a session on the tiny y = x + x model gives the known answer.
 */
export async function probeWasm(): Promise<{ ok: true; version: string } | { ok: false; error: string }> {
  const version = ortWebVersion();
  if (!version) return { ok: false, error: 'onnxruntime-web is not installed' };
  try {
    const ort = await loadOrtWeb();
    const s = await ort.InferenceSession.create(tinyAddModel(), { executionProviders: ['wasm'], logSeverityLevel: 4 });
    try {
      const r = await s.run({ x: new ort.Tensor('float32', Float32Array.from(tinyAddInput), [1, tinyAddInput.length]) });
      const y = Array.from(r.y!.data as Float32Array);
      if (y.join() !== tinyAddExpected.join()) return { ok: false, error: `wrong answer from the tiny model: ${y.join(',')}` };
    } finally {
      await s.release();
    }
    return { ok: true, version };
  } catch (err) {
    return { ok: false, error: messageOf(err).split('\n')[0]! };
  }
}

/**
 * What doctor and the selection see for ONNX models when the WebAssembly backend runs them: usable on the CPU only,
 * with the reason in `detail` and in a note. Undefined when the native build is the one in use.
 */
export async function wasmCapability(choice: OrtBackendChoice, nativeError?: string): Promise<{ onnxruntime: Capabilities['onnxruntime']; note: string } | undefined> {
  if (choice.backend !== 'wasm') return undefined;
  const why = nativeError && !choice.reason.startsWith('EDGE_AGENT') ? `${choice.reason}; ${nativeError}` : choice.reason;
  const w = await probeWasm();
  const noGpu = { usable: false, reason: 'the WebAssembly backend runs on the CPU only' };
  if (!w.ok) {
    return {
      onnxruntime: { usable: false, reason: `${why}, and the WebAssembly backend does not run: ${w.error}`, providers: { cpu: { usable: false, reason: w.error }, cuda: noGpu, tensorrt: noGpu } },
      note: `ONNX backend: none (${why}; onnxruntime-web: ${w.error})`,
    };
  }
  const detail = `onnxruntime-web ${w.version}, WebAssembly SIMD, 1 thread`;
  return {
    onnxruntime: { usable: true, version: w.version, detail, providers: { cpu: { usable: true, detail }, cuda: noGpu, tensorrt: noGpu } },
    note: `ONNX backend: WebAssembly (${detail}) because ${why}; slower than a native build, and the selection weighs its measured latency (edge-agent bench)`,
  };
}
