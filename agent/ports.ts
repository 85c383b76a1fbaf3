import type { FrameSource } from './types.js';
import type { SourceConfig } from './config/sections/source.js';
import type { ManifestInput } from './model/manifest.js';
import type { Logger } from './log.js';
import type { HardwareProfile } from './select/index.js';
import type { ModelHost, ModelHostOptions } from './model/host.js';

/** What a frame source is opened with (the model's input contract and the loop's mode). */
export interface SourceOpenOptions {
  input: ManifestInput;
  /** latest: drop frames the loop has no time for (cameras); lossless: pause the decoder instead (--until-eof). */
  mode: 'latest' | 'lossless';
  log?: Logger;
  decoderThreads?: number;
  planar?: boolean;
}

/**
 * The drivers the agent runs with, given by the composition root (agent/app/compose.ts): the agent itself names
 * no concrete driver. Tests give the same shape with the lowest boundary replaced.
 */
export interface AgentDrivers {
  openSource(cfg: SourceConfig, o: SourceOpenOptions): Promise<FrameSource>;
  modelHost(o: ModelHostOptions): ModelHost;
  /** Thermal zones (°C), the hottest, and whether the board throttles now. */
  thermal(): { zones: Array<{ zone: string; tempC: number }>; tempC?: number; throttled?: boolean };
  /** Energy per inference (J) on this board for an accelerator, latency and FLOPs. */
  energyPerInferenceJ(profile: HardwareProfile, accelerator: string, latencyMs: number, flops: number): number;
}
