import type { AnomalyEvent, EventSink, Frame, Geometry } from '../types.js';

/** The picture behind an event, for sinks that publish a snapshot (optional second argument of `emit`). */
export interface EventEvidence {
  frame: Frame;
  /** How the frame maps onto the source picture; the snapshot is cropped to the picture (no letterbox bars). */
  geometry?: Geometry;
  /** Boxes to draw, normalised 0..1 to the source picture; default: the event's own bbox. */
  boxes?: Array<{ box: [number, number, number, number]; label?: string; score?: number }>;
  /** false: the rule's event action did not ask for a snapshot (`snapshot: false`, the default); none is sent. */
  snapshot?: boolean;
}

/** Device state published upstream (retained status message); merged with what was set before. */
export interface DeviceStatus {
  [key: string]: unknown;
  hardware?: Record<string, unknown>;
  model?: Record<string, unknown>;
  /** Reasons the device runs degraded (e.g. "edgetpu missing: running on cpu"); empty when healthy. */
  degraded?: string[];
}

export interface PublishOptions {
  qos?: 0 | 1 | 2;
  retain?: boolean;
}

/**
 * What a sink did with one event, from the real result: queued (durably: fsync'd in an outbox, or written), or
 * refused (nothing kept) and why (the outbox's RefusalReason: not-durable, disk-full, write-failed, too-large,
 * stopped). A sink that fails otherwise rejects. `void` means queued (sinks without an outbox).
 */
export type SinkOutcome = { status: 'queued' } | { status: 'refused'; reason: string; detail: string };

/** A sink that may also take the evidence, the device status and raw publishes (the MQTT sink does). */
export interface AgentEventSink extends Omit<EventSink, 'emit'> {
  emit(ev: AnomalyEvent, evidence?: EventEvidence): Promise<void | SinkOutcome>;
  /**
   * Durability reports of the sink's outbox: `reason` when new events cannot be kept durably (state folder full,
   * read-only, missing), null once they can again. Called at once when it is already degraded.
   */
  onDurabilityChange?(fn: (reason: string | null) => void): void;
  setStatus?(status: DeviceStatus): void;
  /** Immediate publish for networked outputs (relays); rejects when the broker is not connected. */
  publish?(topic: string, payload: string | Buffer, opts?: PublishOptions): Promise<void>;
  stats?(): object;
}

/** What a transport tells the durable sink above it (agent/events/durable-sink.ts). */
export interface TransportListener {
  /** The connection is up (first time or again); unacknowledged sends of an earlier connection may still settle. */
  connected(): void;
  /** The connection was lost (or stopped). */
  disconnected(): void;
  /** How many messages wait for this transport, for its connection log lines. */
  backlog(): { queued: number; inflight: number };
  /** The sink's counters for the transport's retained stats message (read when it publishes one). */
  counters(): Record<string, unknown>;
}

/** A transport's connection counters (the durable sink adds its own beside them in `stats()`). */
export interface TransportStats {
  connected: boolean;
  /** Successful connects (the first and each reconnect). */
  connects: number;
  connectFailures: number;
  /** Kind of the current connection problem (e.g. "refused", "auth", "tls-ca"), undefined once connected. */
  lastProblem: string | undefined;
}

/**
 * A connection upstream that the agent's durable sink sends through (MQTT implements it: drivers/mqtt/transport.ts).
 * It only moves messages: the outbox, the delivery window, retries after a reconnect and snapshots stay in the agent.
 * Constructors assign; start() begins connecting (does not wait for the broker; retries with backoff by itself);
 * stop() says goodbye (retained offline status) and disconnects.
 */
export interface EventTransport {
  /** The sink type it serves ("mqtt"); the event hub reports the sink under it. */
  readonly type: string;
  /** One listener, given before start(). */
  attach(listener: TransportListener): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  isConnected(): boolean;
  /** Resolves once connected; rejects after `timeoutMs` naming the current connection problem. */
  waitConnected(timeoutMs?: number): Promise<void>;
  /**
   * Sends one queued message (an event's JSON, or a snapshot's JPEG with key = its event id) to where its camera's
   * messages go (absent or "default": the single-camera topics). Resolves when the broker acknowledged it (MQTT
   * QoS 1 PUBACK); rejects when it did not (not connected, publish error). Resent after a reconnect by the caller.
   */
  send(kind: 'event' | 'snapshot', key: string, payload: Buffer, camera?: string): Promise<void>;
  /** Merges into the retained device status and republishes it when it changed. */
  setStatus(status: DeviceStatus): void;
  /** The listener's counters changed: the retained stats message is republished (at most every few seconds, and on connect). */
  countersChanged(): void;
  /** Publishes now (networked relay outputs); rejects when not connected or not acknowledged in time. */
  publish(topic: string, payload: string | Buffer, opts?: PublishOptions & { timeoutMs?: number }): Promise<void>;
  stats(): TransportStats;
}
