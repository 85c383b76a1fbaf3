import * as path from 'node:path';
import { AgentError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { systemClock, type AnomalyEvent, type Clock } from '../types.js';
import { Outbox } from '../outbox/outbox.js';
import type { OutboxOptions, OutboxStats } from '../outbox/types.js';
import { SnapshotEncoder } from './snapshot-encoder.js';
import type { AgentEventSink, DeviceStatus, EventEvidence, EventTransport, PublishOptions, SinkOutcome, TransportStats } from './types.js';

export interface DurableSinkOptions {
  outbox: { maxEvents: number; maxBytes: number; maxAgeDays: number };
  /** The outbox lives in `<stateDir>/outbox`. */
  stateDir: string;
  /** Written into events that do not name their device. */
  deviceId: string;
  /** Snapshots of the frame behind an event (the `events.<type>.snapshots` config). */
  snapshots?: { enabled: boolean; maxBytes: number };
  log?: Logger;
  clock?: Clock;
  /** Extra outbox settings (segment size, fs injection) for tests and benchmarks. */
  outboxOverrides?: Partial<OutboxOptions>;
  /** Events sent and awaiting the broker's acknowledgement at once. */
  window?: number;
  /** Called when the connection comes back after being lost (the agent counts it as a sink restart). */
  onReconnect?: () => void;
  /** Called when the broker acknowledged an event or snapshot and it left the outbox (key: the event id). */
  onDelivered?: (kind: 'event' | 'snapshot', key: string) => void;
}

/** What /healthz, the status page and the run summary read under `sinks.<type>`. */
export interface DurableSinkStats extends TransportStats {
  emitted: number;
  delivered: number;
  inflight: number;
  snapshots: { queued: number; tooLarge: number; failed: number };
  outbox: OutboxStats;
}

/**
 * The outbox key of an event (or of its snapshot): the event id, prefixed by its camera for a camera under `cameras:`
 * ("gate/<id>"). Camera names are letters, digits, dash and underscore, event ids uuidv7: the "/" is unambiguous,
 * and an entry written before cameras existed (no "/") belongs to the single-camera form.
 */
export function outboxKey(eventId: string, camera: string | undefined): string {
  return camera && camera !== 'default' ? `${camera}/${eventId}` : eventId;
}

/** The event id and camera of an outbox key (see outboxKey). */
export function parseOutboxKey(key: string): { eventId: string; camera: string | undefined } {
  const slash = key.indexOf('/');
  return slash < 0 ? { eventId: key, camera: undefined } : { eventId: key.slice(slash + 1), camera: key.slice(0, slash) };
}

/**
 * Anomaly events upstream through a transport (MQTT), never lost: `emit` resolves once the event is fsync'd in the
 * outbox; the sender sends queued entries in order while the transport is connected, at most `window` awaiting
 * their acknowledgement, and removes each only after it; after a reconnect or a restart it resends everything not
 * acknowledged (at least once; the event id is stable, so consumers de-duplicate). Snapshots are encoded off the
 * loop and queued behind their event. Connection problems are the transport's; this never throws into the loop.
 */
export class DurableSink implements AgentEventSink {
  readonly type: string;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly window: number;
  private outbox: Outbox | undefined;
  private gen = 0;
  private sentUpTo = 0;
  private everConnected = false;
  private readonly inflight = new Set<number>();
  private pumping = false;
  private pumpAgain = false;
  private readonly snapshots = new SnapshotEncoder();
  private readonly durabilityListeners: Array<(reason: string | null) => void> = [];
  private readonly s = { emitted: 0, delivered: 0, snapQueued: 0, snapTooLarge: 0, snapFailed: 0 };

  constructor(
    private readonly transport: EventTransport,
    private readonly opts: DurableSinkOptions,
  ) {
    this.type = transport.type;
    this.log = (opts.log ?? silentLogger).child({ component: transport.type });
    this.clock = opts.clock ?? systemClock;
    this.window = opts.window ?? 32;
    transport.attach({
      connected: () => this.onConnected(),
      disconnected: () => this.inflight.clear(),
      backlog: () => ({ queued: this.outbox?.stats().queued ?? 0, inflight: this.inflight.size }),
      counters: () => this.counters(),
    });
  }

  /** Opens the outbox (replaying what an earlier run left) and starts the transport; does not wait for the broker. */
  async start(): Promise<void> {
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
    try {
      await this.transport.start();
    } catch (err) {
      await this.outbox.stop();
      this.outbox = undefined;
      throw err;
    }
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
    if (!this.outbox) throw new AgentError('SINK_FAILED', `the ${this.type.toUpperCase()} sink is not started`, { fix: 'call start() first' });
    const body = ev.device ? ev : { ...ev, device: this.opts.deviceId };
    // The frame may be reused by the pipeline once emit returns: keep a private copy of its pixels.
    const snap = evidence && evidence.snapshot !== false && this.opts.snapshots?.enabled ? { ...evidence, frame: { ...evidence.frame, data: evidence.frame.data.slice() } } : undefined;
    const o = await this.outbox.offer('event', outboxKey(ev.id, ev.camera), Buffer.from(JSON.stringify(body)));
    if (o.status === 'refused') return { status: 'refused', reason: o.reason, detail: o.detail };
    this.s.emitted++;
    this.transport.countersChanged();
    if (snap) void this.queueSnapshot(ev, snap);
    return { status: 'queued' };
  }

  /** Merges into the retained status and republishes it when it changed. */
  setStatus(status: DeviceStatus): void {
    this.transport.setStatus(status);
  }

  /** Publishes now (networked relay outputs); rejects when the broker is not connected or does not acknowledge in time. */
  publish(topic: string, payload: string | Buffer, opts: PublishOptions & { timeoutMs?: number } = {}): Promise<void> {
    return this.transport.publish(topic, payload, opts);
  }

  isConnected(): boolean {
    return this.transport.isConnected();
  }

  /** Resolves once connected (for the demo and tests); rejects after `timeoutMs`. */
  waitConnected(timeoutMs = 10_000): Promise<void> {
    return this.transport.waitConnected(timeoutMs);
  }

  /** Resolves once the outbox is empty (everything acknowledged or dropped); rejects after `timeoutMs`. */
  async drained(timeoutMs = 10_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.outbox && this.outbox.stats().queued > 0) {
      if (Date.now() > until) throw new AgentError('SINK_FAILED', `${this.outbox.stats().queued} event(s) still queued after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  stats(): DurableSinkStats {
    const t = this.transport.stats();
    return {
      connected: t.connected,
      emitted: this.s.emitted,
      delivered: this.s.delivered,
      inflight: this.inflight.size,
      connects: t.connects,
      connectFailures: t.connectFailures,
      snapshots: { queued: this.s.snapQueued, tooLarge: this.s.snapTooLarge, failed: this.s.snapFailed },
      lastProblem: t.lastProblem,
      outbox: this.outbox?.stats() ?? (undefined as unknown as OutboxStats),
    };
  }

  /** Stops the transport (retained offline status, disconnect) and closes the outbox; what is queued stays on disk. */
  async stop(): Promise<void> {
    await this.transport.stop();
    await this.snapshots.close();
    await this.outbox?.stop();
  }

  /** The transport is connected (again): resend from the first unacknowledged entry. */
  private onConnected(): void {
    this.gen++;
    if (this.everConnected) {
      try {
        this.opts.onReconnect?.();
      } catch (err) {
        this.log.warn({ err }, 'the reconnect listener failed');
      }
    }
    this.everConnected = true;
    this.inflight.clear();
    this.sentUpTo = 0;
    void this.pump();
  }

  /** The counters of the transport's retained stats message. */
  private counters(): Record<string, unknown> {
    const o = this.outbox?.stats();
    return { anomalies: this.s.emitted, delivered: this.s.delivered, queued: o?.queued ?? 0, dropped: o?.dropped ?? { events: 0, snapshots: 0 }, corrupted: o?.corrupted ?? 0 };
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
        while (this.transport.isConnected() && this.outbox && this.inflight.size < this.window) {
          const e = this.outbox.next(this.sentUpTo);
          if (!e) break;
          const gen = this.gen;
          this.sentUpTo = e.seq;
          const payload = await this.outbox.payload(e);
          if (!payload) continue;
          // The connection may have dropped (and come back) while reading: onConnected restarts from the first entry.
          if (gen !== this.gen || !this.transport.isConnected()) break;
          this.inflight.add(e.seq);
          const { eventId, camera } = parseOutboxKey(e.key);
          this.transport.send(e.kind, eventId, payload, camera).then(
            () => this.onAck(gen, e.seq, undefined, e.kind, eventId),
            (err: Error) => this.onAck(gen, e.seq, err, e.kind, eventId),
          );
        }
      } while (this.pumpAgain);
    } finally {
      this.pumping = false;
    }
  }

  private onAck(gen: number, seq: number, err: Error | undefined, kind: 'event' | 'snapshot', eventId: string): void {
    if (gen === this.gen) this.inflight.delete(seq);
    if (err) {
      this.log.debug({ err, seq }, 'publish not acknowledged; it stays queued');
      return;
    }
    if (this.outbox?.ack(seq)) {
      this.s.delivered++;
      this.transport.countersChanged();
      try {
        this.opts.onDelivered?.(kind, eventId);
      } catch (err) {
        this.log.warn({ err }, 'the delivery listener failed');
      }
    }
    void this.pump();
  }

  private async queueSnapshot(ev: AnomalyEvent, evidence: EventEvidence): Promise<void> {
    const maxBytes = this.opts.snapshots!.maxBytes;
    try {
      const boxes = evidence.boxes ?? [{ box: ev.bbox, label: ev.label, score: ev.score }];
      const snap = await this.snapshots.encode(evidence.frame, boxes, maxBytes, evidence.geometry, true);
      if (!snap) {
        this.s.snapTooLarge++;
        this.log.warn({ eventId: ev.id, maxBytes }, `snapshot does not fit events.${this.type}.snapshots.maxBytes even at low quality; not sent`);
        return;
      }
      const o = await this.outbox?.offer('snapshot', outboxKey(ev.id, ev.camera), snap.jpeg);
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
