import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { AgentError } from '../../agent/errors.js';
import { silentLogger, type Logger } from '../../agent/log.js';
import { systemClock, type Clock } from '../../agent/types.js';
import type { MqttConfig } from '../../agent/config/sections/events.js';
import type { DeviceStatus, EventTransport, PublishOptions, TransportListener, TransportStats } from '../../agent/events/types.js';
import { resolveConnection, type ResolvedConnection } from './connect-options.js';
import { cameraDiscoveryMessages, discoveryMessages } from './discovery.js';
import { explainMqttError, redactUrl } from './explain.js';
import { cameraTopics, deviceTopics, type DeviceTopics } from './topics.js';
import type { SecretFs } from './secrets.js';

/** A connection problem that persists is logged again at most this often. */
const REMIND_MS = 10 * 60_000;

export interface MqttTransportOptions {
  mqtt: MqttConfig;
  deviceId: string;
  deviceName?: string;
  swVersion?: string;
  log?: Logger;
  clock?: Clock;
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

/**
 * The MQTT broker connection (EventTransport): events and snapshots at QoS 1 on the device's (or camera's) topics,
 * each send settled by its PUBACK. The status topic is retained: `online` (with the device status) on connect,
 * `offline` through the Last Will when the connection dies, or on a clean stop. Home Assistant discovery, the
 * retained stats message. Connection problems are logged once each with their fix; it retries with backoff and
 * never throws into the detection loop. The outbox and the delivery window are the agent's (DurableSink).
 */
export class MqttTransport implements EventTransport {
  readonly type = 'mqtt';
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly topics: DeviceTopics;
  private listener: TransportListener | undefined;
  private conn: ResolvedConnection | undefined;
  private client: MqttClient | undefined;
  private connected = false;
  private stopping = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private statsTimer: NodeJS.Timeout | undefined;
  private statsDirty = true;
  private attempts = 0;
  private lastProblem: string | undefined;
  private lastProblemLog = 0;
  private status: DeviceStatus = {};
  private lastStatusJson: string | undefined;
  private readonly startedAt: string;
  private readonly connectWaiters = new Set<() => void>();
  /** Cameras under `cameras:` seen in sends: each gets its Home Assistant anomaly entities (retained). */
  private readonly cameras = new Set<string>();
  private readonly s = { connects: 0, connectFailures: 0 };

  constructor(private readonly opts: MqttTransportOptions) {
    this.log = (opts.log ?? silentLogger).child({ component: 'mqtt' });
    this.clock = opts.clock ?? systemClock;
    this.topics = deviceTopics(opts.mqtt.topicPrefix, opts.deviceId);
    this.startedAt = new Date(this.clock.wall()).toISOString();
  }

  attach(listener: TransportListener): void {
    this.listener = listener;
  }

  /** Resolves the connection settings (secret files, TLS) and starts connecting; does not wait for the broker. */
  async start(): Promise<void> {
    this.conn = await resolveConnection(this.opts.mqtt, this.opts.deviceId, this.log, { fs: this.opts.secretFs, env: this.opts.env });
    this.connect();
    this.statsTimer = setInterval(() => this.publishStats(), this.opts.statsIntervalMs ?? 5_000);
    this.statsTimer.unref();
  }

  /** The agent's version (agent/version.ts, passed in by the agent) for the status payloads and discovery's sw_version. */
  private swVersion(): string | undefined {
    return this.opts.swVersion;
  }

  /** Merges into the retained status and republishes it when it changed. */
  setStatus(status: DeviceStatus): void {
    this.status = { ...this.status, ...status };
    if (this.connected) this.publishStatus();
  }

  countersChanged(): void {
    this.statsDirty = true;
  }

  /** Publishes now (networked relay outputs); rejects when the broker is not connected or does not acknowledge in time. */
  async publish(topic: string, payload: string | Buffer, opts: PublishOptions & { timeoutMs?: number } = {}): Promise<void> {
    const client = this.client;
    if (!client || !this.connected) {
      throw new AgentError('OUTPUT_FAILED', `cannot publish to ${topic}: the MQTT broker is not connected`, { fix: 'check the broker connection (see the mqtt log lines)' });
    }
    const qos = opts.qos ?? 1;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new AgentError('OUTPUT_FAILED', `no acknowledgement from the broker for ${topic} within ${opts.timeoutMs ?? 5_000} ms`, { fix: 'check the broker connection' })), opts.timeoutMs ?? 5_000);
      client.publish(topic, payload, { qos, retain: opts.retain ?? false }, (err) => {
        clearTimeout(timer);
        if (err) reject(new AgentError('OUTPUT_FAILED', `publish to ${topic} failed: ${err.message}`, { fix: 'check the broker connection and ACL', cause: err }));
        else resolve();
      });
    });
  }

  /**
   * One queued event (JSON) or snapshot (JPEG; key = its event id) at QoS 1 on its camera's topic. Settles with the
   * PUBACK: no timeout here, as a PUBACK may arrive late (after a reconnect the caller sends again anyway).
   */
  send(kind: 'event' | 'snapshot', key: string, payload: Buffer, camera?: string): Promise<void> {
    const client = this.client;
    if (!client || !this.connected) return Promise.reject(new AgentError('SINK_FAILED', `cannot send ${kind} ${key}: the MQTT broker is not connected`));
    if (camera && camera !== 'default' && !this.cameras.has(camera)) {
      this.cameras.add(camera);
      if (this.opts.mqtt.homeAssistant?.discovery) this.publishDiscovery([camera]);
    }
    const t = cameraTopics(this.topics, camera);
    const topic = kind === 'event' ? t.events : t.snapshot(key);
    return new Promise((resolve, reject) => {
      client.publish(topic, payload, { qos: 1 }, (err) => (err ? reject(err) : resolve()));
    });
  }

  isConnected(): boolean {
    return this.connected;
  }

  /** Resolves once connected (for the demo and tests); rejects after `timeoutMs`. */
  waitConnected(timeoutMs = 10_000): Promise<void> {
    if (this.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.connectWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(() => {
        this.connectWaiters.delete(done);
        reject(new AgentError('SINK_FAILED', `not connected to the MQTT broker after ${timeoutMs} ms${this.lastProblem ? ` (${this.lastProblem})` : ''}`));
      }, timeoutMs);
      this.connectWaiters.add(done);
    });
  }

  stats(): TransportStats {
    return { connected: this.connected, connects: this.s.connects, connectFailures: this.s.connectFailures, lastProblem: this.lastProblem };
  }

  /** Publishes a retained `offline` (clean stop) and disconnects. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.statsTimer) clearInterval(this.statsTimer);
    const client = this.client;
    if (client) {
      if (this.connected) {
        // The last word keeps the device status (model, final counts) beside state offline.
        await this.publish(this.topics.status, this.offlinePayload('stopped', true), { qos: 1, retain: true, timeoutMs: 2_000 }).catch(() => undefined);
      }
      await Promise.race([client.endAsync(false), new Promise((r) => setTimeout(r, 2_000))]).catch(() => undefined);
      if (client.connected) await client.endAsync(true).catch(() => undefined);
      this.setDisconnected();
    }
    this.client = undefined;
  }

  private offlinePayload(reason: string, withStatus = false): string {
    return JSON.stringify({ ...(withStatus ? { ...this.status, ts: new Date(this.clock.wall()).toISOString() } : {}), state: 'offline', device: this.opts.deviceId, ...(this.swVersion() ? { version: this.swVersion() } : {}), reason });
  }

  private connect(): void {
    const conn = this.conn!;
    const options: IClientOptions = {
      ...conn.options,
      // Last Will: the broker publishes it, retained, when the connection dies without a DISCONNECT.
      will: { topic: this.topics.status, payload: Buffer.from(this.offlinePayload('connection lost')), qos: 1, retain: true },
    };
    const client = (this.opts.connect ?? mqtt.connect)(options);
    this.client = client;
    client.on('connect', () => this.onConnect());
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    client.on('close', () => this.onClose());
    client.on('error', (err) => this.onError(err));
  }

  private currentUrl(): string {
    const o = this.client?.options;
    return o?.host ? `${o.protocol ?? 'mqtt'}://${o.hostname ?? o.host}:${o.port}` : redactUrl(this.conn!.urls[0]!);
  }

  private onError(err: Error): void {
    this.s.connectFailures++;
    const problem = explainMqttError(err, this.currentUrl(), { ca: this.conn?.caFile, clientId: this.conn!.clientId });
    const now = this.clock.now();
    if (problem.kind !== this.lastProblem) {
      this.log.error({ err, url: this.currentUrl(), attempt: this.attempts + 1 }, `${problem.message}: ${problem.fix}`);
      this.lastProblemLog = now;
    } else if (now - this.lastProblemLog > REMIND_MS) {
      // Same problem still: a reminder now and then, with how much is waiting, instead of a line per retry.
      this.log.warn({ url: this.currentUrl(), attempts: this.attempts + 1, queued: this.listener?.backlog().queued }, `still failing: ${problem.message}`);
      this.lastProblemLog = now;
    }
    this.lastProblem = problem.kind;
  }

  private onConnect(): void {
    this.connected = true;
    this.s.connects++;
    this.log.info({ url: this.currentUrl(), clientId: this.conn!.clientId, afterFailedAttempts: this.attempts || undefined, queued: this.listener?.backlog().queued }, 'connected to the MQTT broker');
    this.attempts = 0;
    this.lastProblem = undefined;
    this.lastStatusJson = undefined;
    this.publishStatus();
    const ha = this.opts.mqtt.homeAssistant;
    if (ha?.discovery) {
      this.publishDiscovery();
      // Home Assistant announces itself on <prefix>/status ("online") when it starts: discovery is sent again then.
      this.client?.subscribe(`${ha.prefix}/status`, { qos: 1 }, (err) => {
        if (err) this.log.warn({ err }, 'cannot subscribe to the Home Assistant status topic');
      });
    }
    this.statsDirty = true;
    this.publishStats();
    for (const w of [...this.connectWaiters]) w();
    // Last: the listener starts sending what is queued.
    try {
      this.listener?.connected();
    } catch (err) {
      this.log.error({ err }, 'the transport listener failed on connect');
    }
  }

  private onClose(): void {
    if (this.connected && !this.stopping) {
      const b = this.listener?.backlog();
      this.log.warn({ url: this.currentUrl(), queued: b?.queued, inflight: b?.inflight }, 'lost the MQTT broker connection; events stay queued on disk and are resent after reconnecting');
    }
    this.setDisconnected();
    if (this.stopping || this.reconnectTimer) return;
    const min = this.opts.reconnectMinMs ?? 1_000;
    const max = this.opts.reconnectMaxMs ?? 30_000;
    const delay = Math.min(max, min * 2 ** Math.min(this.attempts, 16)) * (0.75 + Math.random() * 0.5);
    this.attempts++;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.stopping) this.client?.reconnect();
    }, delay);
  }

  private setDisconnected(): void {
    this.connected = false;
    try {
      this.listener?.disconnected();
    } catch (err) {
      this.log.error({ err }, 'the transport listener failed on disconnect');
    }
  }

  private publishStatus(): void {
    const body = { state: 'online', device: this.opts.deviceId, ...(this.swVersion() ? { version: this.swVersion() } : {}), ...(this.opts.deviceName ? { name: this.opts.deviceName } : {}), since: this.startedAt, ...this.status };
    const json = JSON.stringify(body);
    if (json === this.lastStatusJson || !this.client) return;
    this.lastStatusJson = json;
    this.client.publish(this.topics.status, JSON.stringify({ ...body, ts: new Date(this.clock.wall()).toISOString() }), { qos: 1, retain: true }, (err) => {
      if (err) this.lastStatusJson = undefined;
    });
  }

  private onMessage(topic: string, payload: Buffer): void {
    const ha = this.opts.mqtt.homeAssistant;
    if (ha?.discovery && topic === `${ha.prefix}/status` && payload.toString() === 'online') {
      this.log.info('Home Assistant (re)started: publishing discovery again');
      this.publishDiscovery();
    }
  }

  /** The device's entities and those of every camera seen so far; or only the cameras given (a camera's first send). */
  private publishDiscovery(only?: string[]): void {
    const ha = this.opts.mqtt.homeAssistant!;
    const hw = this.status.hardware as { model?: string } | undefined;
    const dev = { id: this.opts.deviceId, name: this.opts.deviceName, model: hw?.model, swVersion: this.swVersion() };
    const msgs = [...(only ? [] : discoveryMessages(ha.prefix, this.topics, dev)), ...[...(only ?? this.cameras)].flatMap((c) => cameraDiscoveryMessages(ha.prefix, this.topics, dev, c))];
    for (const m of msgs) this.client?.publish(m.topic, m.payload, { qos: 1, retain: true });
  }

  private publishStats(): void {
    if (!this.connected || !this.client || !this.statsDirty || !this.listener) return;
    this.statsDirty = false;
    const body = { ts: new Date(this.clock.wall()).toISOString(), ...this.listener.counters() };
    this.client.publish(this.topics.stats, JSON.stringify(body), { qos: 0, retain: true });
  }
}
