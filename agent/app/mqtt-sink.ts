import type { IClientOptions, MqttClient } from 'mqtt';
import type { MqttConfig } from '../config/sections/events.js';
import { DurableSink, type DurableSinkOptions, type DurableSinkStats } from '../events/durable-sink.js';
import { MqttTransport } from '../../drivers/mqtt/transport.js';
import type { SecretFs } from '../../drivers/mqtt/secrets.js';

export interface MqttSinkOptions extends Omit<DurableSinkOptions, 'snapshots'> {
  mqtt: MqttConfig;
  deviceName?: string;
  swVersion?: string;
  env?: NodeJS.ProcessEnv;
  secretFs?: SecretFs;
  /** mqtt.connect by default. */
  connect?: (opts: IClientOptions) => MqttClient;
  /** Reconnect backoff: doubles from minMs to maxMs, with +-25 % jitter. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** The retained stats message is republished at most this often. */
  statsIntervalMs?: number;
}

export type MqttSinkStats = DurableSinkStats;

/**
 * The `mqtt` event sink as the composition root builds it: the agent's durable sink (outbox, delivery window,
 * snapshots: agent/events/durable-sink.ts) sending through the MQTT transport (broker connection, topics, status,
 * discovery: drivers/mqtt/transport.ts). One name for the CLI, the demo, the benchmark and the tests.
 */
export class MqttEventSink extends DurableSink {
  constructor(opts: MqttSinkOptions) {
    const { mqtt, deviceName, swVersion, env, secretFs, connect, reconnectMinMs, reconnectMaxMs, statsIntervalMs, ...durable } = opts;
    const transport = new MqttTransport({ mqtt, deviceId: opts.deviceId, deviceName, swVersion, log: opts.log, clock: opts.clock, env, secretFs, connect, reconnectMinMs, reconnectMaxMs, statsIntervalMs });
    super(transport, { ...durable, snapshots: mqtt.snapshots });
  }
}
