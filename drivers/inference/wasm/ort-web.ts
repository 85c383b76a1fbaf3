import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { AgentError, messageOf } from '../../../agent/errors.js';

export type OrtWeb = typeof import('onnxruntime-web');

let mod: Promise<OrtWeb> | undefined;

/**
 * Loads onnxruntime-web (its Node entry: dist/ort.node.min.mjs, which runs ort-wasm-simd-threaded.wasm) once, set up
 * for one thread by default. The .wasm file is found next to the entry, so nothing is fetched.
 */
export function loadOrtWeb(): Promise<OrtWeb> {
  mod ??= import('onnxruntime-web').then(
    (ort) => {
      // SIMD (wasm128) is part of the only WebAssembly binary onnxruntime-web 1.19+ ships; Node 20 has it on every
      // architecture V8 supports (x64, arm64, armv7 with NEON).
      ort.env.wasm.numThreads = 1;
      ort.env.logLevel = 'error';
      return ort;
    },
    (err: unknown) => {
      mod = undefined;
      throw new AgentError('BACKEND_UNAVAILABLE', `onnxruntime-web cannot be loaded (${messageOf(err).split('\n')[0]})`, {
        fix: 'reinstall edge-agent (the package ships node_modules/onnxruntime-web), or run `npm ci` in the agent folder',
        cause: err,
      });
    },
  );
  return mod;
}

/** onnxruntime-web's version (its package.json), or undefined when it is not installed. */
export function ortWebVersion(): string | undefined {
  try {
    // Its "exports" do not list package.json: find it next to the resolved entry (dist/ort.node.min.js).
    const entry = createRequire(import.meta.url).resolve('onnxruntime-web');
    return (JSON.parse(readFileSync(join(dirname(entry), '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return undefined;
  }
}
