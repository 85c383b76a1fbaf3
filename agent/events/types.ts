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
