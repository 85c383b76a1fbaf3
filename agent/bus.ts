import { silentLogger, type Logger } from './log.js';
import type { ActionOutcome, AnomalyEvent, Frame, Geometry, ModelRef, TrackedDetection } from './types.js';
import type { ActuationReport } from './actuators/channel.js';

type EventOutcome = Extract<ActionOutcome, { type: 'event' }>;
type OutputOutcome = Exclude<ActionOutcome, { type: 'event' }>;

/**
 * Everything the agent reports about itself, as typed messages. Metrics, /healthz, the run summary, the MQTT
 * status and the logs all subscribe here, so what one of them says, all of them say. `camera` names the camera
 * (the config's camera name; "default" for the single `source:` form).
 */
export interface BusEvents {
  /** A frame went through the loop; stage times in ms (empty when inference was skipped). */
  frame: { camera: string; stagesMs: Record<string, number> };
  /** The first successful inference (systemd READY). */
  firstInference: { camera: string };
  /** Frames not processed: replaced by a newer one (latest) or skipped by the motion gate/frame-rate cap (motion). */
  framesDropped: { camera: string; reason: 'latest' | 'motion'; count: number };
  /** Decoder messages saying the camera's input is damaged or truncated (counted by the source), since the last report. */
  sourceInputErrors: { camera: string; count: number };
  /** A rule fired (before its actions). */
  firing: { camera: string; rule: string; label: string };
  /** What an output command returned (scheduled, missed, refused, failed, on...). */
  actuation: { camera: string; outcome: OutputOutcome };
  /** What happened to an output afterwards (a scheduled pulse fired, an output found stuck, recovered...). */
  outputReport: { report: ActuationReport };
  /** An anomaly event handed to the sinks, and whether at least one durably queued it. */
  event: { camera: string; eventId: string; outcome: EventOutcome; event?: AnomalyEvent; evidence?: { frame: Frame; geometry?: Geometry } };
  /** A broker acknowledged an event: it is delivered upstream and left the outbox. */
  eventDelivered: { sink: string; eventId: string };
  /**
   * What the loop decided on one inferred frame: the tracked detections (boxes normalised 0..1) and the rules that
   * fired. The latest per camera is what a status page shows. `frame` is the loop's own frame, valid only during
   * the synchronous listener call (its buffer goes back to the source afterwards): copy, never keep.
   */
  decision: { camera: string; seq: number; captureTs: number; detections: readonly TrackedDetection[]; firings: string[]; frame?: Frame; geometry?: Geometry; fired?: ReadonlyArray<{ rule: string; label: string; trackId: number | null; bbox: [number, number, number, number] }> };
  /** One sink could not take an event (the others may have). */
  sinkFailed: { sink: string; eventId: string; detail: string };
  /** A component restarted: source (camera process), backend (inference session), sink (event transport). */
  restart: { component: 'source' | 'backend' | 'sink'; camera?: string; reason: string };
  /** The model variant running changed (start, governor switch). */
  model: { camera?: string; model: ModelRef; inferenceThread: 'worker' | 'main' };
  /** Thermal zones read (°C) and whether the board throttles now. */
  thermal: { zones: Array<{ zone: string; tempC: number }>; throttled?: boolean };
  /** Events persisted but not yet acknowledged upstream. */
  outboxDepth: { depth: number };
  /**
   * A part runs in a reduced mode (events not durable, a sensor silent...): `reason` says what and why; null when it
   * recovered. /healthz and the MQTT status list every current reason as "component: reason".
   */
  degraded: { component: string; reason: string | null };
}

export type BusEventName = keyof BusEvents;
type Listener<K extends BusEventName> = (payload: BusEvents[K]) => void;

/**
 * A typed event bus (zigbee2mqtt's lib/eventBus.ts shape) with a fault boundary per listener: a listener that
 * throws is logged with its component and counted, and the other listeners and the emitter (the frame loop) go
 * on. Listeners run synchronously in subscription order; a listener that has async work starts it and returns.
 */
export class EventBus {
  private readonly listeners = new Map<BusEventName, Array<{ component: string; fn: (p: unknown) => void }>>();
  private readonly failed = new Map<string, number>();
  private readonly log: Logger;
  private failureHook: ((component: string) => void) | undefined;

  constructor(log: Logger = silentLogger) {
    this.log = log.child({ component: 'bus' });
  }

  /** Subscribes `component`'s listener; returns the unsubscribe function. */
  on<K extends BusEventName>(name: K, component: string, fn: Listener<K>): () => void {
    const list = this.listeners.get(name) ?? [];
    const entry = { component, fn: fn as (p: unknown) => void };
    list.push(entry);
    this.listeners.set(name, list);
    return () => {
      const l = this.listeners.get(name);
      if (l) this.listeners.set(name, l.filter((e) => e !== entry));
    };
  }

  emit<K extends BusEventName>(name: K, payload: BusEvents[K]): void {
    const list = this.listeners.get(name);
    if (!list) return;
    for (const l of list) {
      try {
        l.fn(payload);
      } catch (err) {
        const n = (this.failed.get(l.component) ?? 0) + 1;
        this.failed.set(l.component, n);
        this.log.error({ err, listener: l.component, event: name, failures: n }, `listener ${l.component} failed on ${name}; the others go on`);
        try {
          this.failureHook?.(l.component);
        } catch {
          // the counter's own failure must not stop the loop either
        }
      }
    }
  }

  /** Called with the component of every listener that threw (edge_agent_listener_failures_total). */
  onFailure(fn: (component: string) => void): void {
    this.failureHook = fn;
  }

  /** Listener failures by component. */
  failures(): Record<string, number> {
    return Object.fromEntries(this.failed);
  }
}
