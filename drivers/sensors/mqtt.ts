/**
 * Sensor readings from MQTT topics: one connection to the broker, one subscription per sensor, each payload parsed
 * with the sensor's value and timestamp paths (payload.ts) and written to the store. A payload that
 * cannot be read is counted and logged once per sensor until a good one arrives; it never becomes a reading.
 */
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from '../../agent/log.js';
import { silentLogger } from '../../agent/log.js';
import type { MqttSensorConfig } from '../../agent/config/sections/sensors.js';
import type { SensorInput, SensorSink } from '../../agent/ports.js';
import { parsePayload } from './payload.js';

export interface MqttSensorsOptions {
  url: string;
  /** Sensor name -> its topic and paths. */
  sensors: Record<string, MqttSensorConfig>;
  log?: Logger;
  clientOptions?: IClientOptions;
}

/** MQTT topic filter match (`+` one level, `#` the rest). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

export class MqttSensors implements SensorInput {
  readonly provides: readonly string[];
  private client: MqttClient | undefined;
  private readonly log: Logger;
  private readonly complained = new Set<string>();
  /** Payloads that could not be read, per sensor. */
  readonly bad = new Map<string, number>();

  constructor(private readonly opts: MqttSensorsOptions) {
    this.provides = Object.keys(opts.sensors);
    this.log = (opts.log ?? silentLogger).child({ component: 'sensors-mqtt' });
  }

  describe(): string {
    return `mqtt ${this.opts.url}: ${Object.entries(this.opts.sensors).map(([n, s]) => `${n} <- ${s.topic}`).join(', ')}`;
  }

  /** Connects and subscribes (QoS 1); resolves once the subscriptions are acknowledged. Reconnects on its own. */
  async start(store: SensorSink): Promise<void> {
    const client = connect(this.opts.url, { reconnectPeriod: 2000, connectTimeout: 10_000, ...this.opts.clientOptions });
    this.client = client;
    client.on('message', (topic, payload) => this.onMessage(store, topic, payload.toString()));
    // One warning per outage (the client retries every 2 s), and one line when the broker is back.
    let down = false;
    client.on('error', (err) => {
      if (!down) this.log.warn({ reason: err.message }, 'sensor broker connection error; retrying every 2 s, readings go stale meanwhile');
      down = true;
    });
    client.on('connect', () => {
      if (down) this.log.info('sensor broker connected again');
      down = false;
    });
    const topics = [...new Set(Object.values(this.opts.sensors).map((s) => s.topic))];
    // Subscriptions are re-sent on every (re)connect: the session may be clean.
    client.on('connect', () => {
      client.subscribe(topics, { qos: 1 }, (err) => {
        if (err) this.log.warn({ err }, 'sensor subscription failed');
      });
    });
    await new Promise<void>((res, rej) => {
      const onErr = (err: Error) => rej(err);
      client.once('error', onErr);
      client.once('connect', () => {
        client.off('error', onErr);
        res();
      });
    });
    await client.subscribeAsync(topics, { qos: 1 });
    this.log.info({ topics }, 'sensor topics subscribed');
  }

  private onMessage(store: SensorSink, topic: string, text: string): void {
    for (const [name, s] of Object.entries(this.opts.sensors)) {
      if (!topicMatches(s.topic, topic)) continue;
      const p = parsePayload(text, s.valuePath, s.timestampPath);
      if (!p.ok) {
        this.bad.set(name, (this.bad.get(name) ?? 0) + 1);
        if (!this.complained.has(name)) {
          this.complained.add(name);
          this.log.warn({ sensor: name, topic, reason: p.reason }, 'sensor payload not understood; check valuePath/timestampPath');
        }
        continue;
      }
      this.complained.delete(name);
      store.update(name, p.value, p.atMs);
    }
  }

  async stop(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (c) await c.endAsync();
  }
}
