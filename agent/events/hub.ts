import { messageOf } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { OutboxRefusedError } from '../outbox/outbox.js';
import type { ActionOutcome, AnomalyEvent } from '../types.js';
import type { AgentEventSink, DeviceStatus, EventEvidence, PublishOptions, SinkOutcome } from './types.js';

type EventOutcome = Extract<ActionOutcome, { type: 'event' }>;
type SinkResult = { status: 'queued' } | { status: 'refused'; reason: string; detail: string } | { status: 'failed'; detail: string };

/** A sink failing the same way is logged again at most this often (with how many failed since). */
const FAILURE_LOG_EVERY_MS = 60_000;

/**
 * Fan-out of events to every configured sink, each inside a fault boundary: a sink that rejects or throws is
 * logged with its type (one line per sink and kind of failure per minute) and counted, and the other sinks (and
 * the detection loop) carry on. `emit` never rejects; it resolves with the real outcome to record on the event:
 * "queued" when at least one sink durably queued it, else "refused" (an outbox kept nothing, with its reason),
 * else "failed". A refusal is not logged here: the outbox already logged one rate-limited line for it.
 */
export class EventHub {
  readonly type = 'hub';
  private readonly log: Logger;
  private readonly failures = new Map<string, number>();
  private emitted = 0;
  private started: AgentEventSink[] = [];
  private failureHook: ((sink: string, eventId: string, detail: string) => void) | undefined;
  private readonly refused = new Map<string, number>();
  private readonly failureLog = new Map<string, { at: number; count: number }>();
  private readonly notDurable = new Map<string, string>();

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

  /**
   * Called when events stop being durable in some sink (its outbox's state folder is full, read-only, missing) with
   * "events not durable (<reason>)", and with null once every sink is durable again (the agent reports it on the
   * bus as `degraded` {component: 'events'}). Subscribe before start(): a sink degraded at start reports at once.
   */
  onDegraded(fn: (reason: string | null) => void): void {
    for (const s of this.sinks) {
      s.onDurabilityChange?.((reason) => {
        const before = this.degradedReason();
        if (reason) this.notDurable.set(s.type, reason);
        else this.notDurable.delete(s.type);
        const now = this.degradedReason();
        if (now !== before) fn(now);
      });
    }
  }

  private degradedReason(): string | null {
    const first = [...this.notDurable.values()][0];
    return first === undefined ? null : `events not durable (${first})`;
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
    const results = await Promise.all(this.sinks.map((s) => this.emitTo(s, ev, evidence)));
    const named = results.map((r, i) => ({ ...r, sink: this.sinks[i]!.type }));
    const notQueued = named.flatMap((r) => (r.status === 'queued' ? [] : [`${r.sink}: ${r.status === 'refused' ? `refused (${r.reason}): ` : ''}${r.detail}`]));
    if (named.some((r) => r.status === 'queued')) return notQueued.length ? { type: 'event', status: 'queued', detail: `failed in ${notQueued.join('; ')}` } : { type: 'event', status: 'queued' };
    const refusal = named.find((r) => r.status === 'refused');
    if (refusal && refusal.status === 'refused') return { type: 'event', status: 'refused', reason: refusal.reason, detail: notQueued.join('; ') };
    return { type: 'event', status: 'failed', detail: notQueued.join('; ') };
  }

  /** One sink's real result for one event; never rejects. */
  private async emitTo(s: AgentEventSink, ev: AnomalyEvent, evidence: EventEvidence | undefined): Promise<SinkResult> {
    let r: SinkResult;
    try {
      const o = await s.emit(ev, evidence);
      r = o && o.status === 'refused' ? o : { status: 'queued' };
    } catch (err) {
      if (err instanceof OutboxRefusedError) {
        r = { status: 'refused', reason: err.reason, detail: messageOf(err) };
      } else {
        this.failures.set(s.type, (this.failures.get(s.type) ?? 0) + 1);
        this.logFailure(s.type, ev.id, err);
        r = { status: 'failed', detail: messageOf(err) };
      }
    }
    if (r.status === 'queued') return r;
    if (r.status === 'refused') {
      this.refused.set(s.type, (this.refused.get(s.type) ?? 0) + 1);
      // The outbox logged one rate-limited line for the refusal: no line (and no stack) per event here.
      this.log.debug({ sink: s.type, eventId: ev.id, reason: r.reason }, 'event refused by the sink');
    }
    try {
      this.failureHook?.(s.type, ev.id, r.detail);
    } catch {
      // the hook is a bus emit, itself fault-bounded
    }
    return r;
  }

  /** One line per sink and kind of failure (error code, else message) per minute, with how many since. */
  private logFailure(sink: string, eventId: string, err: unknown): void {
    const kind = `${sink}:${(err as { code?: unknown } | undefined)?.code ?? messageOf(err)}`;
    const now = performance.now();
    const last = this.failureLog.get(kind);
    if (last && now - last.at < FAILURE_LOG_EVERY_MS) {
      last.count++;
      return;
    }
    this.failureLog.set(kind, { at: now, count: 0 });
    this.log.error({ err, sink, eventId, failures: this.failures.get(sink), ...(last ? { sinceLastLine: last.count + 1 } : {}) }, `event sink ${sink} failed; other sinks continue (this kind of failure is logged at most once a minute)`);
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
      refused: Object.fromEntries(this.refused),
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
