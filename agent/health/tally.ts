import type { EventBus } from '../bus.js';

/** Counts kept for one camera. */
export interface CameraTally {
  frames: number;
  dropped: number;
  firings: number;
  events: number;
}

/** What the agent has done since start, in one shape for the run summary, /healthz and the MQTT status. */
export interface TallySnapshot {
  frames: number;
  dropped: { latest: number; motion: number };
  firings: number;
  /** Output commands as returned (scheduled, missed, refused, failed) and what became of them later (fired, stuck). */
  pulses: { scheduled: number; missed: number; refused: number; failed: number; fired: number; stuck: number };
  holds: { on: number; refused: number; failed: number };
  /** Anomaly events: queued (by at least one sink, durably) or failed (no sink took it); delivered: acknowledged by a broker. */
  events: { queued: number; failed: number; delivered: number };
  restarts: { source: number; backend: number; sink: number };
  /** Events each sink failed to take, by sink type. */
  sinkFailures: Record<string, number>;
  cameras: Record<string, CameraTally>;
}

/**
 * The agent's own account of what happened, built only from the bus: the run summary, /healthz and the retained
 * MQTT status all read this one object, and metrics listen to the same messages, so none of them can disagree.
 */
export class Tally {
  private readonly s: TallySnapshot = {
    frames: 0,
    dropped: { latest: 0, motion: 0 },
    firings: 0,
    pulses: { scheduled: 0, missed: 0, refused: 0, failed: 0, fired: 0, stuck: 0 },
    holds: { on: 0, refused: 0, failed: 0 },
    events: { queued: 0, failed: 0, delivered: 0 },
    restarts: { source: 0, backend: 0, sink: 0 },
    sinkFailures: {},
    cameras: {},
  };

  constructor(bus: EventBus) {
    const cam = (name: string): CameraTally => (this.s.cameras[name] ??= { frames: 0, dropped: 0, firings: 0, events: 0 });
    bus.on('frame', 'tally', (p) => {
      this.s.frames++;
      cam(p.camera).frames++;
    });
    bus.on('framesDropped', 'tally', (p) => {
      this.s.dropped[p.reason] += p.count;
      cam(p.camera).dropped += p.count;
    });
    bus.on('firing', 'tally', (p) => {
      this.s.firings++;
      cam(p.camera).firings++;
    });
    bus.on('actuation', 'tally', ({ outcome: o }) => {
      if (o.type === 'pulse') {
        if (o.status === 'scheduled' || o.status === 'missed' || o.status === 'refused' || o.status === 'failed') this.s.pulses[o.status]++;
      } else if (o.status === 'on' || o.status === 'refused' || o.status === 'failed') this.s.holds[o.status]++;
    });
    bus.on('outputReport', 'tally', ({ report }) => {
      // Only what a command's own return cannot say: the pulse really switched, the output would not switch off.
      if (report.kind === 'fired' && report.dueMono !== undefined) this.s.pulses.fired++;
      else if (report.kind === 'stuck') this.s.pulses.stuck++;
    });
    bus.on('event', 'tally', (p) => {
      if (p.outcome.status === 'queued') {
        this.s.events.queued++;
        cam(p.camera).events++;
      } else this.s.events.failed++;
    });
    bus.on('eventDelivered', 'tally', () => {
      this.s.events.delivered++;
    });
    bus.on('sinkFailed', 'tally', (p) => {
      this.s.sinkFailures[p.sink] = (this.s.sinkFailures[p.sink] ?? 0) + 1;
    });
    bus.on('restart', 'tally', (p) => {
      this.s.restarts[p.component]++;
    });
  }

  snapshot(): TallySnapshot {
    return structuredClone(this.s);
  }
}
