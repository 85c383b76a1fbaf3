/**
 * The agent's metric names, in one place so dashboards and docs/install.md can rely on them.
 * The frame loop fills them; Health (health.ts) fills fps and frames itself from health.frame().
 */
import type { Counter, Gauge, MetricsRegistry, Summary } from './metrics.js';

/** The frame loop's stages (agent/pipeline/stats.ts stageNames); `total` is capture to decision. */
export const STAGES = ['capture', 'preprocess', 'inference', 'decode', 'track', 'rules', 'total'] as const;
export type Stage = (typeof STAGES)[number];

export interface AgentMetrics {
  /** Frames through the loop per second (over the last few seconds). Set by Health. */
  fps: Gauge;
  /** Frames through the loop since start. Set by Health. */
  frames: Counter;
  /** Per-stage latency of each processed frame, ms (observe with { stage }). */
  stageLatency: Summary<'stage'>;
  /** Frames the source replaced before the loop took them (latest-frame-wins) or the motion gate skipped. */
  framesDropped: Counter<'reason'>;
  inferences: Counter;
  /** Wall time of one inference call, ms. */
  inferenceMs: Summary;
  /** 1 for the accelerator and model variant in use (reset() then set on a switch). */
  acceleratorInfo: Gauge<'kind' | 'variant'>;
  /** Events persisted but not yet acknowledged upstream. */
  outboxDepth: Gauge;
  /** Output commands by output and result (the ActionOutcome status: scheduled, fired, missed, refused, failed, on). */
  actuations: Counter<'output' | 'result'>;
  /** Restarts of a component (source, backend, sink). */
  restarts: Counter<'component'>;
  /** SoC / accelerator temperatures, by thermal zone name. */
  temperature: Gauge<'zone'>;
  /** Seconds since the last frame through the loop (+Inf before the first). Set by Health at scrape time. */
  lastFrameAge: Gauge;
}

export function registerAgentMetrics(r: MetricsRegistry, lastFrameAgeS: () => number): AgentMetrics {
  return {
    fps: r.gauge({ name: 'edge_agent_fps', help: 'Frames processed per second (last 5 s).' }),
    frames: r.counter({ name: 'edge_agent_frames_total', help: 'Frames processed since start.' }),
    stageLatency: r.summary({
      name: 'edge_agent_stage_latency_ms',
      help: 'Latency of each pipeline stage per frame, milliseconds (sliding 60 s window).',
      labelNames: ['stage'],
    }),
    framesDropped: r.counter({
      name: 'edge_agent_frames_dropped_total',
      help: 'Frames not processed: replaced by a newer frame (latest), or skipped by the motion gate (motion).',
      labelNames: ['reason'],
    }),
    inferences: r.counter({ name: 'edge_agent_inferences_total', help: 'Inferences run since start.' }),
    inferenceMs: r.summary({ name: 'edge_agent_inference_ms', help: 'Duration of one inference, milliseconds (sliding 60 s window).' }),
    acceleratorInfo: r.gauge({
      name: 'edge_agent_accelerator_info',
      help: 'The accelerator (kind) and model variant in use; value 1.',
      labelNames: ['kind', 'variant'],
    }),
    outboxDepth: r.gauge({ name: 'edge_agent_outbox_depth', help: 'Events stored in the outbox awaiting delivery.' }),
    actuations: r.counter({
      name: 'edge_agent_actuations_total',
      help: 'Output commands by output and result (scheduled, fired, missed, refused by a safety limit, failed; on for holds).',
      labelNames: ['output', 'result'],
    }),
    restarts: r.counter({ name: 'edge_agent_restarts_total', help: 'Component restarts (source, backend, sink).', labelNames: ['component'] }),
    temperature: r.gauge({ name: 'edge_agent_temperature_celsius', help: 'Temperature by thermal zone, degrees Celsius.', labelNames: ['zone'] }),
    lastFrameAge: r.gauge({
      name: 'edge_agent_last_frame_age_seconds',
      help: 'Seconds since the last processed frame (+Inf before the first).',
      collect: (g) => g.set(lastFrameAgeS()),
    }),
  };
}
