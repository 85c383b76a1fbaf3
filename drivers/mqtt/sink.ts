import * as path from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { AgentError } from '../../agent/errors.js';
import { silentLogger, type Logger } from '../../agent/log.js';
import { systemClock, type AnomalyEvent, type Clock } from '../../agent/types.js';
import type { MqttConfig } from '../../agent/config/sections/events.js';
import { Outbox } from '../../agent/outbox/outbox.js';
import type { OutboxOptions, OutboxStats } from '../../agent/outbox/types.js';
import { SnapshotEncoder } from '../../agent/events/snapshot-encoder.js';
import type { AgentEventSink, DeviceStatus, EventEvidence, PublishOptions, SinkOutcome } from '../../agent/events/types.js';
import { resolveConnection, type ResolvedConnection } from './connect-options.js';
import { discoveryMessages } from './discovery.js';
import { explainMqttError, redactUrl } from './explain.js';
import { deviceTopics, type DeviceTopics } from './topics.js';
import type { SecretFs } from './secrets.js';

/** A connection problem that persists is logged again at most this often. */
const REMIND_MS = 10 * 60_000;

export interface MqttSinkOptions {
  mqtt: MqttConfig;
  outbox: { maxEvents: number; maxBytes: number; maxAgeDays: number };
  /** The outbox lives in `<stateDir>/outbox`. */
  stateDir: string;
  deviceId: string;
  deviceName?: string;
  swVersion?: string;
  log?: Logger;
  clock?: Clock;
  env?: NodeJS.ProcessEnv;
  secretFs?: SecretFs;
  /** Extra outbox settings (segment size, fs injection) for tests and benchmarks. */
  outboxOverrides?: Partial<OutboxOptions>;
  /** mqtt.connect by default. */
  connect?: (opts: IClientOptions) => MqttClient;
  /** Reconnect backoff: doubles from minMs to maxMs, with +-25 % jitter. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** Events published and awaiting PUBACK at once. */
  window?: number;
  /** The retained stats message is republished at most this often. */
  statsIntervalMs?: number;
  /** Called when the connection comes back after being lost (the agent counts it as a sink restart). */
  onReconnect?: () => void;
  /** Called when the broker acknowledged an event or snapshot (PUBACK) and it left the outbox. */
  onDelivered?: (kind: 'event' | 'snapshot', key: string) => void;
}

export interface MqttSinkStats {
  connected: boolean;
  emitted: number;
  delivered: number;
  inflight: number;
  connects: number;
  connectFailures: number;
  snapshots: { queued: number; tooLarge: number; failed: number };
  lastProblem: string | undefined;
  outbox: OutboxStats;
}

/**
 * Anomaly events upstream over MQTT, never lost: `emit` resolves once the event is fsync'd in the outbox;
 * the sender publishes queued entries in order at QoS 1 while connected and removes each only after its
 * PUBACK; after a reconnect or a restart it resends everything not acknowledged (at least once; the event id
 * is stable, so consumers de-duplicate). The status topic is retained: `online` (with the device status) on
 * connect, `offline` through the Last Will when the connection dies, or on a clean stop.
 * Connection problems are logged once each with their fix; the sink retries with backoff and never throws
 * into the detection loop.
 */
export class MqttEventSink implements AgentEventSink {
  readonly type = 'mqtt';
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly topics: DeviceTopics;
  private readonly window: number;
  private outbox: Outbox | undefined;
  private conn: ResolvedConnection | undefined;
  private client: MqttClient | undefined;
  private connected = false;
  private stopping = false;
  private gen = 0;
  private sentUpTo = 0;
  private readonly inflight = new Set<number>();
  private pumping = false;
  private pumpAgain = false;
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
  private readonly snapshots = new SnapshotEncoder();
  private readonly durabilityListeners: Array<(reason: string | null) => void> = [];
  private readonly s = { emitted: 0, delivered: 0, connects: 0, connectFailures: 0, snapQueued: 0, snapTooLarge: 0, snapFailed: 0 };

  constructor(private readonly opts: MqttSinkOptions) {
    this.log = (opts.log ?? silentLogger).child({ component: 'mqtt' });
    this.clock = opts.clock ?? systemClock;
    this.topics = deviceTopics(opts.mqtt.topicPrefix, opts.deviceId);
    this.window = opts.window ?? 32;
    this.startedAt = new Date(this.clock.wall()).toISOString();
  }

  /** Opens the outbox (replaying what an earlier run left) and starts connecting; does not wait for the broker. */
  async start(): Promise<void> {
    this.conn = await resolveConnection(this.opts.mqtt, this.opts.deviceId, this.log, { fs: this.opts.secretFs, env: this.opts.env });
    this.outbox = new Outbox({
      dir: path.join(this.opts.stateDir, 'outbox'),
      maxEvents: this.opts.outbox.maxEvents,
      maxBytes: this.opts.outbox.maxBytes,
      maxAgeDays: this.opts.outbox.maxAgeDays,
      clock: this.clock,
      log: this.opts.log ?? silentLogger,
      ...this.opts.outboxOverrides,
    });
    for (const l of this.durabilityListeners) this.outbox.onDurabilityChange((d) => l(d.durable ? null : d.reason));
    await this.outbox.start();
    this.outbox.onReady(() => void this.pump());
    const replay = this.outbox.stats();
    if (replay.queued) this.log.info({ queued: replay.queued, corrupted: replay.corrupted }, 'events queued by an earlier run will be sent once the broker is reachable');
    this.connect();
    this.statsTimer = setInterval(() => this.publishStats(), this.opts.statsIntervalMs ?? 5_000);
    this.statsTimer.unref();
  }

  /** Durability changes of the outbox (reason, or null when durable again); subscribe before start(). */
  onDurabilityChange(fn: (reason: string | null) => void): void {
    this.durabilityListeners.push(fn);
    if (this.outbox) {
      this.outbox.onDurabilityChange((d) => fn(d.durable ? null : d.reason));
      const d = this.outbox.durability();
      if (!d.durable) fn(d.reason);
    }
  }

  /**
   * Queues the event in the outbox and resolves with the real result: queued once fsync'd, or refused (nothing
   * kept: state folder unusable, disk full, too large) with the reason; the outbox logged the refusal.
   */
  async emit(ev: AnomalyEvent, evidence?: EventEvidence): Promise<SinkOutcome> {
    if (!this.outbox) throw new AgentError('SINK_FAILED', 'the MQTT sink is not started', { fix: 'call start() first' });
    const body = ev.device ? ev : { ...ev, device: this.opts.deviceId };
    // The frame may be reused by the pipeline once emit returns: keep a private copy of its pixels.
    const snap = evidence && evidence.snapshot !== false && this.opts.mqtt.snapshots.enabled ? { ...evidence, frame: { ...evidence.frame, data: evidence.frame.data.slice() } } : undefined;
    const o = await this.outbox.offer('event', ev.id, Buffer.from(JSON.stringify(body)));
    if (o.status === 'refused') return { status: 'refused', reason: o.reason, detail: o.detail };
    this.s.emitted++;
    this.statsDirty = true;
    if (snap) void this.queueSnapshot(ev, snap);
    return { status: 'queued' };
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

  /** Resolves once the outbox is empty (everything acknowledged or dropped); rejects after `timeoutMs`. */
  async drained(timeoutMs = 10_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.outbox && this.outbox.stats().queued > 0) {
      if (Date.now() > until) throw new AgentError('SINK_FAILED', `${this.outbox.stats().queued} event(s) still queued after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  stats(): MqttSinkStats {
    return {
      connected: this.connected,
      emitted: this.s.emitted,
      delivered: this.s.delivered,
      inflight: this.inflight.size,
      connects: this.s.connects,
      connectFailures: this.s.connectFailures,
      snapshots: { queued: this.s.snapQueued, tooLarge: this.s.snapTooLarge, failed: this.s.snapFailed },
      lastProblem: this.lastProblem,
      outbox: this.outbox?.stats() ?? (undefined as unknown as OutboxStats),
    };
  }

  /** Publishes a retained `offline` (clean stop), disconnects, and closes the outbox; what is queued stays on disk. */
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
      this.connected = false;
    }
    this.client = undefined;
    await this.snapshots.close();
    await this.outbox?.stop();
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
      this.log.warn({ url: this.currentUrl(), attempts: this.attempts + 1, queued: this.outbox?.stats().queued }, `still failing: ${problem.message}`);
      this.lastProblemLog = now;
    }
    this.lastProblem = problem.kind;
  }

  private onConnect(): void {
    this.connected = true;
    this.gen++;
    this.s.connects++;
    if (this.s.connects > 1) {
      try {
        this.opts.onReconnect?.();
      } catch (err) {
        this.log.warn({ err }, 'the reconnect listener failed');
      }
    }
    this.log.info({ url: this.currentUrl(), clientId: this.conn!.clientId, afterFailedAttempts: this.attempts || undefined, queued: this.outbox?.stats().queued }, 'connected to the MQTT broker');
    this.attempts = 0;
    this.lastProblem = undefined;
    this.inflight.clear();
    this.sentUpTo = 0;
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
    void this.pump();
  }

  private onClose(): void {
    if (this.connected && !this.stopping) {
      this.log.warn({ url: this.currentUrl(), queued: this.outbox?.stats().queued, inflight: this.inflight.size }, 'lost the MQTT broker connection; events stay queued on disk and are resent after reconnecting');
    }
    this.connected = false;
    this.inflight.clear();
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

  private async pump(): Promise<void> {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        while (this.connected && this.client && this.outbox && this.inflight.size < this.window) {
          const e = this.outbox.next(this.sentUpTo);
          if (!e) break;
          const gen = this.gen;
          this.sentUpTo = e.seq;
          const payload = await this.outbox.payload(e);
          if (!payload) continue;
          // The connection may have dropped (and come back) while reading: onConnect restarts from the first entry.
          if (gen !== this.gen || !this.connected) break;
          this.inflight.add(e.seq);
          const topic = e.kind === 'event' ? this.topics.events : this.topics.snapshot(e.key);
          this.client.publish(topic, payload, { qos: 1 }, (err) => this.onPuback(gen, e.seq, err, e.kind, e.key));
        }
      } while (this.pumpAgain);
    } finally {
      this.pumping = false;
    }
  }

  private onPuback(gen: number, seq: number, err: Error | undefined, kind: 'event' | 'snapshot', key: string): void {
    if (gen === this.gen) this.inflight.delete(seq);
    if (err) {
      this.log.debug({ err, seq }, 'publish not acknowledged; it stays queued');
      return;
    }
    if (this.outbox?.ack(seq)) {
      this.s.delivered++;
      this.statsDirty = true;
      try {
        this.opts.onDelivered?.(kind, key);
      } catch (err) {
        this.log.warn({ err }, 'the delivery listener failed');
      }
    }
    void this.pump();
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

  private publishDiscovery(): void {
    const ha = this.opts.mqtt.homeAssistant!;
    const hw = this.status.hardware as { model?: string } | undefined;
    for (const m of discoveryMessages(ha.prefix, this.topics, { id: this.opts.deviceId, name: this.opts.deviceName, model: hw?.model, swVersion: this.swVersion() })) {
      this.client?.publish(m.topic, m.payload, { qos: 1, retain: true });
    }
  }

  private publishStats(): void {
    if (!this.connected || !this.client || !this.statsDirty || !this.outbox) return;
    this.statsDirty = false;
    const o = this.outbox.stats();
    const body = { ts: new Date(this.clock.wall()).toISOString(), anomalies: this.s.emitted, delivered: this.s.delivered, queued: o.queued, dropped: o.dropped, corrupted: o.corrupted };
    this.client.publish(this.topics.stats, JSON.stringify(body), { qos: 0, retain: true });
  }

  private async queueSnapshot(ev: AnomalyEvent, evidence: EventEvidence): Promise<void> {
    try {
      const boxes = evidence.boxes ?? [{ box: ev.bbox, label: ev.label, score: ev.score }];
      const snap = await this.snapshots.encode(evidence.frame, boxes, this.opts.mqtt.snapshots.maxBytes, evidence.geometry, true);
      if (!snap) {
        this.s.snapTooLarge++;
        this.log.warn({ eventId: ev.id, maxBytes: this.opts.mqtt.snapshots.maxBytes }, 'snapshot does not fit events.mqtt.snapshots.maxBytes even at low quality; not sent');
        return;
      }
      const o = await this.outbox?.offer('snapshot', ev.id, snap.jpeg);
      // A refusal was logged (rate-limited) by the outbox: counted here, no second line.
      if (o?.status !== 'queued') {
        this.s.snapFailed++;
        return;
      }
      this.s.snapQueued++;
    } catch (err) {
      this.s.snapFailed++;
      this.log.error({ err, eventId: ev.id }, 'snapshot not queued');
    }
  }
}
