import type { FrameSource } from './types.js';
import type { SourceConfig } from './config/sections/source.js';
import type { ManifestInput } from './model/manifest.js';
import type { Logger } from './log.js';
import type { HardwareProfile } from './select/index.js';
import type { ModelHost, ModelHostOptions } from './model/host.js';

/** The connection events go upstream through (MQTT implements it); the outbox and the delivery window stay in the agent. */
export type { EventTransport, TransportListener, TransportStats } from './events/types.js';

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
 * The service manager (systemd Type=notify through sd_notify(3); a no-op outside systemd): READY after the first
 * inference, WATCHDOG only while frames flow, STATUS, STOPPING, RELOADING.
 */
export interface Notifier {
  /** True when NOTIFY_SOCKET was set and usable (we run under systemd Type=notify). */
  readonly enabled: boolean;
  /** READY=1 with a status line. Call once the pipeline has produced its first inference. */
  ready(status?: string): void;
  /** WATCHDOG=1. Call only while frames flow (see startWatchdog). */
  watchdog(): void;
  /** STATUS=<one line>, shown by `systemctl status`. */
  status(text: string): void;
  /** STOPPING=1 (plus an optional status). */
  stopping(status?: string): void;
  /** RELOADING=1 at the start of a SIGHUP reload; follow with ready() when done. */
  reloading(status?: string): void;
  /** EXTEND_TIMEOUT_USEC: asks for more time during a long start-up or shutdown step. */
  extendTimeout(ms: number): void;
  /** How often to ping: half of WATCHDOG_USEC, or undefined when the unit has no watchdog for us. */
  watchdogIntervalMs(): number | undefined;
  /** Closes the socket. */
  close(): void;
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
  /** The service manager's notifier (systemd, or a no-op outside it). */
  notifier(log: Logger): Notifier;
  /** Energy per inference (J) on this board for an accelerator, latency and FLOPs. */
  energyPerInferenceJ(profile: HardwareProfile, accelerator: string, latencyMs: number, flops: number): number;
}

/** Where a sensor input writes its readings (agent/sensors/store.ts SensorStore is one). */
export interface SensorSink {
  /** Records a reading (atMs: when it was measured, epoch ms; default now); false when refused. */
  update(name: string, value: number, atMs?: number): boolean;
}

/**
 * One source of sensor readings (an MQTT topic, an ADC channel: drivers/sensors/). It writes into the sink; the
 * store decides what is fresh. Constructors assign; start() connects or claims; stop() undoes.
 */
export interface SensorInput {
  /** The sensor names this input provides. */
  readonly provides: readonly string[];
  describe(): string;
  start(sink: SensorSink): Promise<void>;
  stop(): Promise<void>;
}
