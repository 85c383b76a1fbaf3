import { availableParallelism } from 'node:os';

export type InferenceThreadSetting = 'auto' | 'worker' | 'main';

export interface InferenceThreadChoice {
  thread: 'worker' | 'main';
  reason: string;
}

/**
 * Resolves model.inferenceThread. The reason is logged and shown in status, so the choice is never silent.
 * Measured on a 2-vCPU x86 VM with the demo model (npm run bench, pipeline):
 * - a camera (frames come at its rate, the newest wins): capture-to-decision p50 7.0 ms in the main thread against
 *   8.0 ms in a worker, with ~1.4 ms less agent CPU per frame and ~9 MB less peak RSS: main thread;
 * - a file read in full (`lossless`, throughput is what counts): a worker with the next call queued keeps the model
 *   busy while this thread reads and packs, 150-180 fps against 140-155 in the main thread: worker.
 * With more cores the worker lets the loop's own work (reading, packing, decoding boxes, rules) overlap the model on
 * a core of its own in both cases.
 */
export function resolveInferenceThread(setting: InferenceThreadSetting, cpus = availableParallelism(), job: 'live' | 'file' = 'live'): InferenceThreadChoice {
  if (setting === 'worker') return { thread: 'worker', reason: 'model.inferenceThread: worker' };
  if (setting === 'main') return { thread: 'main', reason: 'model.inferenceThread: main' };
  if (cpus > 2) return { thread: 'worker', reason: `auto: ${cpus} CPUs, the frame loop overlaps inference on its own core` };
  if (cpus === 2 && job === 'file') return { thread: 'worker', reason: 'auto: 2 CPUs and a file read in full, the next frame waits queued at the inference thread while this one reads and packs' };
  return { thread: 'main', reason: `auto: ${cpus} CPU${cpus === 1 ? '' : 's'}, a separate inference thread would only compete with the frame loop and the decoder for the same cores` };
}

/**
 * Threads the source's decoder (ffmpeg) may use: the CPUs left after inference (model.threads) and the agent's own
 * loop (which shares its core with inference when inference runs in the main thread), at least one. On a 2-core
 * board ffmpeg then decodes on one thread instead of spreading over both cores and preempting inference (demo clip,
 * 5 interleaved runs each: 126 fps with ffmpeg's default, 142 with one thread).
 */
export function decoderThreads(modelThreads: number, inference: 'worker' | 'main', cpus = availableParallelism()): number {
  return Math.max(1, cpus - modelThreads - (inference === 'worker' ? 1 : 0));
}

/**
 * Whether a backend with its own inference thread packs the frames there (InferenceBackend.packFrames) instead of
 * the frame loop. With more than 2 CPUs the loop has a core of its own: packing there overlaps the model, which
 * then only reads the tensor. With 2 (or 1) the loop shares cores with the decoder and the model, so what counts is
 * the total: handing over the 8-bit pixels (a quarter of the float tensor) saves the loop a float pack and copy and
 * the packed tensor's trip between cores, for a pack in the inference thread (~0.15 ms for 320x240 with SIMD).
 * Measured on the 2-vCPU development VM (demo clip looped 4 times, inference in a worker, 5 interleaved pairs):
 * agent CPU 5.21 against 5.37 ms per frame (medians), peak RSS 142-144 against 144-146 MB.
 */
export function packInInferenceThread(cpus = availableParallelism()): boolean {
  return cpus <= 2;
}

export interface PinChoice {
  /** The CPU to pin the inference thread to; none: not pinned. */
  cpu?: number;
  reason: string;
}

/**
 * Resolves model.pinInferenceThread. Measured on the 2-vCPU development VM (demo clip looped 4 times, inference in a
 * worker, 6 interleaved pairs): 187 fps pinned against 179 unpinned, with less spread between runs.
 */
export function resolvePinning(setting: 'auto' | 'off' | number, thread: 'worker' | 'main', modelThreads: number, allowed: number[]): PinChoice {
  if (setting === 'off') return { reason: 'model.pinInferenceThread: off' };
  if (thread !== 'worker') return { reason: 'inference runs in the main thread, which is never pinned' };
  const list = allowed.length ? allowed.join(',') : 'unknown (no /proc)';
  if (typeof setting === 'number') {
    return allowed.includes(setting) ? { cpu: setting, reason: `model.pinInferenceThread: ${setting}` } : { reason: `CPU ${setting} is not among the online CPUs the agent may use (${list})` };
  }
  if (modelThreads > 1) return { reason: `auto: with ${modelThreads} intra-op threads ONNX Runtime spreads the work over its own pool; only a lone inference thread is pinned` };
  if (allowed.length < 2) return { reason: `auto: the agent may use ${allowed.length ? `only CPU ${list}` : 'CPUs unknown (no /proc)'}` };
  return { cpu: allowed.at(-1)!, reason: `auto: one inference thread in a worker, kept on the last allowed CPU (of ${list}) so that it does not migrate` };
}
