/**
 * The agent's metric names, in one place so dashboards and docs/install.md can rely on them (a test checks the
 * docs table against a real run). Durations are in seconds, as Prometheus histograms (base units, aggregatable
 * across a fleet). The bus listener (bus-metrics.ts) fills them; Health fills fps and frames from health.frame().
 */
import type { Counter, Gauge, Histogram, MetricsRegistry } from './metrics.js';

/** The frame loop's stages (agent/pipeline/stats.ts stageNames); `total` is capture to decision. */
export const STAGES = ['capture', 'preprocess', 'inference', 'decode', 'track', 'rules', 'total'] as const;
export type Stage = (typeof STAGES)[number];

/** Bucket bounds (s) for per-frame stage and inference times: 0.5 ms (a Coral call) to 2.5 s (a stuck CPU). */
export const LATENCY_BUCKETS_S: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** What edge_agent_build_info carries. */
export interface BuildInfo {
  version: string;
  node: string;
  arch: string;
}

export interface AgentMetrics {
  /** Frames through the loop per second (over the last few seconds). Set by Health. */
  fps: Gauge;
  /** Frames through the loop since start. Set by Health. */
  frames: Counter;
  /** Per-stage latency of each processed frame, seconds (observe with { stage }). */
  stageLatency: Histogram<'stage'>;
  /** Frames the source replaced before the loop took them (latest-frame-wins) or the motion gate skipped. */
  framesDropped: Counter<'reason'>;
  inferences: Counter;
  /** Wall time of one inference call, seconds. */
  inferenceSeconds: Histogram;
  /** 1 for the accelerator and model variant in use (reset() then set on a switch). */
  acceleratorInfo: Gauge<'kind' | 'variant'>;
  /** Events persisted but not yet acknowledged upstream. */
  outboxDepth: Gauge;
  /** Output commands and what became of them, by output and result (scheduled, fired, missed, refused, failed, stuck, on...). */
  actuations: Counter<'output' | 'result'>;
  /** Anomaly events by result: queued (durably, by at least one sink) or failed (no sink took it). */
  events: Counter<'result'>;
  /** Events a sink failed to take, by sink type (the others may have queued it). */
  sinkFailures: Counter<'sink'>;
  /** Decoder messages saying a camera's input is damaged or truncated, by camera. */
  sourceInputErrors: Counter<'camera'>;
  /** Restarts of a component (source, backend, sink). */
  restarts: Counter<'component'>;
  /** SoC / accelerator temperatures, by thermal zone name. */
  temperature: Gauge<'zone'>;
  /** Listeners of the agent's event bus that threw, by component (the loop went on). */
  listenerFailures: Counter<'component'>;
  /** Seconds since the last frame through the loop (+Inf before the first). Set by Health at scrape time. */
  lastFrameAge: Gauge;
  /** 1, labelled with the agent's version, Node.js version and CPU architecture. */
  buildInfo: Gauge<'version' | 'node' | 'arch'>;
}

export function registerAgentMetrics(r: MetricsRegistry, lastFrameAgeS: () => number, build?: BuildInfo): AgentMetrics {
  const m: AgentMetrics = {
    fps: r.gauge({ name: 'edge_agent_fps', help: 'Frames processed per second (last 5 s).' }),
    frames: r.counter({ name: 'edge_agent_frames_total', help: 'Frames processed since start.' }),
    stageLatency: r.histogram({
      name: 'edge_agent_stage_latency_seconds',
      help: 'Latency of each pipeline stage per frame, seconds.',
      labelNames: ['stage'],
      buckets: LATENCY_BUCKETS_S,
    }),
    framesDropped: r.counter({
      name: 'edge_agent_frames_dropped_total',
      help: 'Frames not processed: replaced by a newer frame (latest), or skipped by the motion gate or frame-rate cap (motion).',
      labelNames: ['reason'],
    }),
    inferences: r.counter({ name: 'edge_agent_inferences_total', help: 'Inferences run since start.' }),
    inferenceSeconds: r.histogram({ name: 'edge_agent_inference_seconds', help: 'Duration of one inference, seconds.', buckets: LATENCY_BUCKETS_S }),
    acceleratorInfo: r.gauge({
      name: 'edge_agent_accelerator_info',
      help: 'The accelerator (kind) and model variant in use; value 1.',
      labelNames: ['kind', 'variant'],
    }),
    outboxDepth: r.gauge({ name: 'edge_agent_outbox_depth', help: 'Events stored in the outbox awaiting delivery.' }),
    actuations: r.counter({
      name: 'edge_agent_actuations_total',
      help: 'Output commands by output and result (scheduled, missed, refused by a safety limit, failed, on for holds) and what became of them (fired, stuck, recovered).',
      labelNames: ['output', 'result'],
    }),
    events: r.counter({ name: 'edge_agent_events_total', help: 'Anomaly events by result: queued (durably, by at least one sink), failed (no sink took it).', labelNames: ['result'] }),
    sinkFailures: r.counter({ name: 'edge_agent_sink_failures_total', help: 'Events a sink failed to take, by sink (jsonl, mqtt); the other sinks may have queued them.', labelNames: ['sink'] }),
    sourceInputErrors: r.counter({ name: 'edge_agent_source_input_errors_total', help: 'Decoder errors from damaged or truncated input (a file cut half-way, a corrupt stream), by camera.', labelNames: ['camera'] }),
    restarts: r.counter({ name: 'edge_agent_restarts_total', help: 'Component restarts (source, backend, sink).', labelNames: ['component'] }),
    temperature: r.gauge({ name: 'edge_agent_temperature_celsius', help: 'Temperature by thermal zone, degrees Celsius.', labelNames: ['zone'] }),
    listenerFailures: r.counter({ name: 'edge_agent_listener_failures_total', help: 'Event-bus listeners that threw, by component (the agent went on).', labelNames: ['component'] }),
    lastFrameAge: r.gauge({
      name: 'edge_agent_last_frame_age_seconds',
      help: 'Seconds since the last processed frame (+Inf before the first).',
      collect: (g) => g.set(lastFrameAgeS()),
    }),
    buildInfo: r.gauge({ name: 'edge_agent_build_info', help: 'The running build: agent version, Node.js version, CPU architecture; value 1.', labelNames: ['version', 'node', 'arch'] }),
  };
  m.buildInfo.set(1, build ?? { version: 'unknown', node: process.versions.node, arch: process.arch });
  return m;
}
