import { messageOf } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import type { ActionOutcome, AnomalyEvent } from '../types.js';
import type { AgentEventSink, DeviceStatus, EventEvidence, PublishOptions } from './types.js';

type EventOutcome = Extract<ActionOutcome, { type: 'event' }>;

/**
 * Fan-out of events to every configured sink, each inside a fault boundary: a sink that rejects or throws is
 * logged with its type and counted, and the other sinks (and the detection loop) carry on.
 * `emit` never rejects; it resolves with the action outcome to record on the event ("queued" when at least
 * one sink durably queued it).
 */
export class EventHub {
  readonly type = 'hub';
  private readonly log: Logger;
  private readonly failures = new Map<string, number>();
  private emitted = 0;
  private started: AgentEventSink[] = [];
  private failureHook: ((sink: string, eventId: string, detail: string) => void) | undefined;

  constructor(
    readonly sinks: AgentEventSink[],
    log: Logger = silentLogger,
  ) {
    this.log = log.child({ component: 'events' });
  }

  /** Called for each sink that fails an event (the agent puts it on its bus). */
  onSinkFailure(fn: (sink: string, eventId: string, detail: string) => void): void {
    this.failureHook = fn;
  }

  /** Starts every sink; a start failure (bad config, missing secret file) is fatal and stops those started. */
  async start(): Promise<void> {
    for (const s of this.sinks) {
      try {
        await s.start();
      } catch (err) {
        await this.stop();
        throw err;
      }
      this.started.push(s);
    }
  }

  async emit(ev: AnomalyEvent, evidence?: EventEvidence): Promise<EventOutcome> {
    this.emitted++;
    if (!this.sinks.length) return { type: 'event', status: 'failed', detail: 'no event sink configured' };
    const results = await Promise.allSettled(
      this.sinks.map(async (s) => {
        try {
          await s.emit(ev, evidence);
        } catch (err) {
          this.failures.set(s.type, (this.failures.get(s.type) ?? 0) + 1);
          this.log.error({ err, sink: s.type, eventId: ev.id, failures: this.failures.get(s.type) }, `event sink ${s.type} failed; other sinks continue`);
          try {
            this.failureHook?.(s.type, ev.id, messageOf(err));
          } catch {
            // the hook is a bus emit, itself fault-bounded
          }
          throw err;
        }
      }),
    );
    const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`${this.sinks[i]!.type}: ${messageOf(r.reason)}`] : []));
    if (failed.length === results.length) return { type: 'event', status: 'failed', detail: failed.join('; ') };
    return failed.length ? { type: 'event', status: 'queued', detail: `failed in ${failed.join('; ')}` } : { type: 'event', status: 'queued' };
  }

  /** Passes the device status to every sink that publishes one. */
  setStatus(status: DeviceStatus): void {
    for (const s of this.sinks) {
      try {
        s.setStatus?.(status);
      } catch (err) {
        this.log.error({ err, sink: s.type }, 'setStatus failed');
      }
    }
  }

  /** Raw publish through the first sink that can (the MQTT sink), for networked relay outputs. */
  publisher(): ((topic: string, payload: string | Buffer, opts?: PublishOptions) => Promise<void>) | undefined {
    const s = this.sinks.find((x) => typeof x.publish === 'function');
    return s ? (topic, payload, opts) => s.publish!(topic, payload, opts) : undefined;
  }

  stats(): Record<string, unknown> {
    return {
      emitted: this.emitted,
      failures: Object.fromEntries(this.failures),
      sinks: Object.fromEntries(this.sinks.map((s) => [s.type, s.stats?.() ?? {}])),
    };
  }

  /** Stops sinks in reverse order; a sink failing to stop is logged, the others still stop. */
  async stop(): Promise<void> {
    const list = this.started.reverse();
    this.started = [];
    for (const s of list) {
      try {
        await s.stop();
      } catch (err) {
        this.log.error({ err, sink: s.type }, 'event sink failed to stop cleanly');
      }
    }
  }
}
