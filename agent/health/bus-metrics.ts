import type { EventBus } from '../bus.js';
import type { Health } from './health.js';
import { LATENCY_BUCKETS_S } from './agent-metrics.js';

/** Seconds of frames the per-camera frame rate is averaged over. */
const FPS_WINDOW_S = 5;

/** Metrics listen to the bus: every outcome the agent reports moves its series, nothing else does. */
export function metricsFromBus(bus: EventBus, health: Health): () => void {
  const m = health.metrics;
  const r = health.registry;
  // Per camera (the config's names; "default" for the single `source:` form), beside the agent-wide series.
  const camFrames = r.counter<'camera'>({ name: 'edge_agent_camera_frames_total', help: 'Frames processed since start, by camera.', labelNames: ['camera'] });
  const camDropped = r.counter<'camera' | 'reason'>({ name: 'edge_agent_camera_frames_dropped_total', help: 'Frames not processed (reason latest: a newer frame replaced it; motion: gated), by camera.', labelNames: ['camera', 'reason'] });
  const camInference = r.histogram<'camera'>({ name: 'edge_agent_camera_inference_seconds', help: 'Duration of one inference as the camera saw it (its turn at a shared model included), seconds.', labelNames: ['camera'], buckets: LATENCY_BUCKETS_S });
  const recent = new Map<string, number[]>();
  r.gauge<'camera'>({
    name: 'edge_agent_camera_fps',
    help: `Frames processed per second over the last ${FPS_WINDOW_S} s, by camera.`,
    labelNames: ['camera'],
    collect: (g) => {
      const now = performance.now();
      for (const [camera, ts] of recent) {
        while (ts.length && now - ts[0]! > FPS_WINDOW_S * 1000) ts.shift();
        g.set(ts.length / FPS_WINDOW_S, { camera });
      }
    },
  });
  bus.onFailure((component) => m.listenerFailures.inc({ component }));
  const off = [
    bus.on('frame', 'metrics', (p) => {
      health.frame(p.stagesMs);
      camFrames.inc({ camera: p.camera });
      const ts = recent.get(p.camera) ?? [];
      ts.push(performance.now());
      if (ts.length > 4096) ts.splice(0, ts.length - 4096);
      recent.set(p.camera, ts);
      const inf = p.stagesMs.inference;
      if (inf !== undefined && Number.isFinite(inf)) camInference.observe(inf / 1000, { camera: p.camera });
    }),
    bus.on('framesDropped', 'metrics', (p) => {
      m.framesDropped.inc({ reason: p.reason }, p.count);
      camDropped.inc({ camera: p.camera, reason: p.reason }, p.count);
    }),
    bus.on('actuation', 'metrics', (p) => health.actuation(p.outcome)),
    bus.on('outputReport', 'metrics', ({ report }) => {
      // What the command's return could not say yet: it fired, the output is stuck on, it recovered.
      if (report.kind === 'fired' || report.kind === 'stuck' || report.kind === 'recovered') m.actuations.inc({ output: report.output, result: report.kind });
    }),
    bus.on('event', 'metrics', (p) => m.events.inc({ result: p.outcome.status === 'queued' ? 'queued' : 'failed' })),
    bus.on('sinkFailed', 'metrics', (p) => m.sinkFailures.inc({ sink: p.sink })),
    bus.on('restart', 'metrics', (p) => m.restarts.inc({ component: p.component })),
    bus.on('sourceInputErrors', 'metrics', (p) => m.sourceInputErrors.inc({ camera: p.camera }, p.count)),
    bus.on('model', 'metrics', (p) => health.setModel(`${p.model.name}/${p.model.variant}`, p.model.accelerator ?? 'unknown')),
    bus.on('thermal', 'metrics', (p) => {
      for (const z of p.zones) m.temperature.set(z.tempC, { zone: z.zone });
    }),
    bus.on('outboxDepth', 'metrics', (p) => m.outboxDepth.set(p.depth)),
  ];
  return () => off.forEach((f) => f());
}
