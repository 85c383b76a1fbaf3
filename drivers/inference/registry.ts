import { AgentError } from '../../agent/errors.js';
import type { Logger } from '../../agent/log.js';
import type { InferenceBackend } from '../../agent/types.js';

/**
 * Backends registered by runtime name, imported lazily so that a runtime whose native library is missing
 * disables only its own entry (with the reason), never the whole agent.
 */
const factories: Record<string, (log: Logger) => Promise<InferenceBackend>> = {
  onnxruntime: async (log) => {
    // No native onnxruntime-node build here (armhf): the same .onnx files run on the WebAssembly backend.
    const choice = (await import('./wasm/choice.js')).ortBackendChoice();
    if (choice.backend === 'wasm') return new (await import('./wasm/backend.js')).WasmOrtBackend(log.child({ backend: 'wasm', why: choice.reason }));
    return new (await import('./onnxruntime.js')).OnnxRuntimeBackend(log);
  },
  tflite: async (log) => {
    // Resolved at run time: the TFLite driver loads libtensorflowlite_c through koffi only when a .tflite model is used.
    const path = './tflite/index.js';
    const mod = (await import(path)) as { TfliteBackend: new (log: Logger) => InferenceBackend };
    return new mod.TfliteBackend(log);
  },
};

export function runtimeNames(): string[] {
  return Object.keys(factories);
}

export async function createBackend(runtime: string, log: Logger): Promise<InferenceBackend> {
  const f = factories[runtime];
  if (!f) throw new AgentError('MANIFEST_INVALID', `unknown runtime "${runtime}"`, { fix: `use one of: ${runtimeNames().join(', ')}` });
  return f(log.child({ component: `backend-${runtime}` }));
}
