import { DurableSink, type DurableSinkOptions, type DurableSinkStats } from '../events/durable-sink.js';
import { MqttTransport, type MqttTransportOptions } from '../../drivers/mqtt/transport.js';

/** The durable sink's options with the transport's (the transport's own log, clock and device id are the sink's). */
export type MqttSinkOptions = Omit<DurableSinkOptions, 'snapshots'> & Omit<MqttTransportOptions, 'deviceId' | 'log' | 'clock'>;

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
