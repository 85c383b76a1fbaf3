import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import type { Capabilities, HardwareProfile, Usability } from '../../agent/select/hardware.js';
import { realOrtProbe, type OrtProbeResult } from './ort-probe.js';
import { ortBackendChoice, wasmCapability } from '../inference/wasm/choice.js';

const require = createRequire(import.meta.url);

export { realOrtProbe, type OrtProbeResult, type OrtProvider } from './ort-probe.js';

export type LibraryLoad = { ok: true; path: string; version?: string } | { ok: false; error: string; tried: string[] };

/** The seams: how ONNX Runtime and shared libraries are tried. Real defaults below; tests may inject. */
export interface CapabilityProbes {
  onnxruntime(): Promise<OrtProbeResult>;
  /** dlopen the first loadable candidate; `versionSymbol` is a `const char* f(void)` returning the version. */
  loadLibrary(candidates: string[], versionSymbol?: string): LibraryLoad;
}

export interface DetectCapabilitiesOptions {
  /** Node's process.arch of the machine whose libraries are tried (default: this process). */
  nodeArch?: string;
  env?: NodeJS.ProcessEnv;
  /** Package root, to find node_modules/tfjs-tflite-node's bundled libtensorflowlite_c.so. */
  packageRoot?: string;
  probes?: Partial<CapabilityProbes>;
}

/**
 * Which runtimes and accelerators can really run a model here: each ONNX Runtime execution provider is tried
 * by creating a session on a tiny model (asking onnxruntime-node for `cuda` on a build without it is a hard
 * error at session creation, not a fallback); the TFLite C library and libedgetpu are dlopen'ed with koffi.
 * Accelerator devices come from the hardware profile (so `doctor --sysroot` combines a fixture's devices with
 * this machine's libraries). Never throws.
 */
export async function detectCapabilities(profile: HardwareProfile, opts: DetectCapabilitiesOptions = {}): Promise<Capabilities> {
  const env = opts.env ?? process.env;
  const nodeArch = opts.nodeArch ?? process.arch;
  // The ONNX Runtime probe creates a session on a tiny model in a child process: 30 s by default, more for an
  // emulated CPU (qemu user mode is 10-50x slower), set with EDGE_AGENT_PROBE_TIMEOUT_MS.
  const probeTimeoutMs = Number(env.EDGE_AGENT_PROBE_TIMEOUT_MS) > 0 ? Number(env.EDGE_AGENT_PROBE_TIMEOUT_MS) : undefined;
  const probes: CapabilityProbes = { onnxruntime: () => realOrtProbe(probeTimeoutMs ? { timeoutMs: probeTimeoutMs } : {}), loadLibrary: realLoadLibrary, ...opts.probes };
  const notes: string[] = [];

  // Without a native onnxruntime-node build (armhf) ONNX models run on the WebAssembly backend (drivers/inference/wasm).
  const ortChoice = opts.probes?.onnxruntime ? undefined : ortBackendChoice(env, process.platform, nodeArch as NodeJS.Architecture);
  const ort = ortChoice?.backend === 'wasm' ? { ok: false as const, error: ortChoice.reason } : await probes.onnxruntime().catch((err: unknown): OrtProbeResult => ({ ok: false, error: messageOf(err) }));
  const wasm = ortChoice ? await wasmCapability(ortChoice) : undefined;
  if (wasm) notes.push(wasm.note);
  const onnxruntime: Capabilities['onnxruntime'] = wasm ? wasm.onnxruntime : ort.ok
    ? { usable: ort.providers.cpu.usable, ...(ort.providers.cpu.usable ? {} : { reason: ort.providers.cpu.reason }), version: ort.version, providers: ort.providers }
    : {
        usable: false,
        reason: `onnxruntime-node does not load: ${ort.error}`,
        providers: { cpu: { usable: false, reason: 'onnxruntime-node does not load' }, cuda: { usable: false, reason: 'onnxruntime-node does not load' }, tensorrt: { usable: false, reason: 'onnxruntime-node does not load' } },
      };

  const tfliteCandidates = [
    ...(env.EDGE_AGENT_TFLITE_LIB ? [env.EDGE_AGENT_TFLITE_LIB] : []),
    ...bundledTflite(opts.packageRoot, nodeArch),
    'libtensorflowlite_c.so',
  ];
  const tfl = probes.loadLibrary(tfliteCandidates, 'TfLiteVersion');
  const tflite: Capabilities['tflite'] = tfl.ok
    ? { usable: true, library: tfl.path, ...(tfl.version ? { version: tfl.version } : {}) }
    : { usable: false, reason: `libtensorflowlite_c.so not loadable (tried ${tfl.tried.join(', ')}): ${tfl.error}; set EDGE_AGENT_TFLITE_LIB to its path` };

  const etpu = probes.loadLibrary([...(env.EDGE_AGENT_EDGETPU_LIB ? [env.EDGE_AGENT_EDGETPU_LIB] : []), 'libedgetpu.so.1']);
  const edgetpuLibrary: Capabilities['edgetpuLibrary'] = etpu.ok
    ? { usable: true, library: etpu.path }
    : { usable: false, reason: 'libedgetpu.so.1 not found (install libedgetpu1-std from the Coral apt repo)', detail: etpu.error };

  const isArm64 = nodeArch === 'arm64' || profile.cpu.arch === 'aarch64';
  if (isArm64) {
    notes.push(
      'the onnxruntime-node npm package for linux/arm64 is CPU-only: it has no CUDA or TensorRT provider. On a Jetson, ' +
        'GPU inference through ONNX Runtime needs onnxruntime-node built from source on the board against JetPack ' +
        "(./build.sh --use_cuda --use_tensorrt --build_nodejs, with JetPack's CUDA/cuDNN/TensorRT) installed in place of the npm package; " +
        'without it the cpu (and edgetpu) variants are the ones that can run.',
    );
  }
  if (nodeArch === 'x64') {
    notes.push('the onnxruntime-node npm package for linux/x64 gets its CUDA/TensorRT providers only when installed with --onnxruntime-node-install=cuda12 (the install script downloads libonnxruntime_providers_cuda.so); otherwise asking for them fails at session creation.');
  }
  if (profile.root !== '/') notes.push(`devices come from the sysroot ${profile.root}; libraries and ONNX Runtime providers were tried on this machine (${nodeArch})`);

  return { onnxruntime, tflite, edgetpuLibrary, accelerators: acceleratorUsability(profile, onnxruntime, tflite, edgetpuLibrary), notes };
}

/** Combines devices (profile) and libraries (loaded here) per accelerator kind a variant can target. */
export function acceleratorUsability(
  profile: HardwareProfile,
  ort: Capabilities['onnxruntime'],
  tflite: Capabilities['tflite'],
  edgetpuLibrary: Capabilities['edgetpuLibrary'],
): Capabilities['accelerators'] {
  const gpu = profile.accelerators.find((a) => a.kind === 'cuda');
  const tpus = profile.accelerators.filter((a) => a.kind === 'edgetpu');
  const usableTpu = tpus.find((a) => a.state !== 'driver-missing');
  const gpuFor = (ep: 'cuda' | 'tensorrt'): Usability => {
    if (!gpu) return { usable: false, reason: `needs ${ep}: no NVIDIA GPU found (no Jetson nvgpu device node)` };
    if (!ort.providers[ep].usable) return { usable: false, reason: `needs ${ep}: ${gpu.name} found, but this onnxruntime-node build has no ${ep} provider (${ort.providers[ep].reason ?? 'not usable'})` };
    if (ep === 'tensorrt' && !gpu.libraries?.tensorrt) return { usable: false, reason: 'needs tensorrt: TensorRT (libnvinfer) not found' };
    return { usable: true, detail: `${gpu.name} via ONNX Runtime ${ep} provider` };
  };
  let edgetpu: Usability;
  if (tpus.length === 0) edgetpu = { usable: false, reason: 'needs edgetpu: no Edge TPU found (no USB 1a6e:089a/18d1:9302, no /dev/apex_N)' };
  else if (!usableTpu) edgetpu = { usable: false, reason: `needs edgetpu: ${tpus[0]!.warnings[0] ?? 'Edge TPU driver missing'}` };
  else if (!edgetpuLibrary.usable) edgetpu = { usable: false, reason: `needs edgetpu: ${usableTpu.name} found, but ${edgetpuLibrary.reason}` };
  else if (!tflite.usable) edgetpu = { usable: false, reason: `needs edgetpu: ${usableTpu.name} found, but ${tflite.reason}` };
  else edgetpu = { usable: true, detail: `${usableTpu.name}${usableTpu.usbSpeedMbps ? ` at ${usableTpu.usbSpeedMbps} Mb/s` : ''} via ${edgetpuLibrary.library}` };
  return {
    cpu: { usable: true, detail: profile.accelerators[0]?.name ?? 'CPU' },
    cuda: gpuFor('cuda'),
    tensorrt: gpuFor('tensorrt'),
    edgetpu,
  };
}

function bundledTflite(packageRoot: string | undefined, nodeArch: string): string[] {
  const dir = nodeArch === 'arm64' ? 'linux_arm64' : nodeArch === 'x64' ? 'linux_amd64' : undefined;
  if (!dir) return [];
  const rel = `tfjs-tflite-node/cc_deps/${dir}/libtensorflowlite_c.so`;
  const out: string[] = [];
  if (packageRoot) out.push(resolve(packageRoot, 'node_modules', rel));
  try {
    out.push(resolve(require.resolve('tfjs-tflite-node/package.json'), '..', 'cc_deps', dir, 'libtensorflowlite_c.so'));
  } catch {
    // optional dependency not installed
  }
  return [...new Set(out)];
}

/** Real library loader: koffi.load (dlopen) each candidate in turn. */
export function realLoadLibrary(candidates: string[], versionSymbol?: string): LibraryLoad {
  let koffi: { load(path: string): { func(sig: string): (...a: unknown[]) => unknown; unload?(): void } };
  try {
    koffi = require('koffi');
  } catch (err) {
    return { ok: false, error: `koffi (FFI) does not load: ${messageOf(err)}`, tried: [] };
  }
  const tried: string[] = [];
  let lastError = 'no candidates';
  for (const c of candidates) {
    if (c.includes('/') && !existsSync(c)) {
      tried.push(c);
      lastError = `${c} does not exist`;
      continue;
    }
    tried.push(c);
    try {
      const lib = koffi.load(c);
      let version: string | undefined;
      if (versionSymbol) {
        try {
          version = String(lib.func(`const char* ${versionSymbol}(void)`)());
        } catch {
          version = undefined;
        }
      }
      return { ok: true, path: c, ...(version ? { version } : {}) };
    } catch (err) {
      lastError = firstLine(messageOf(err));
    }
  }
  return { ok: false, error: lastError, tried };
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.trim();
}
