import type { EventBus } from '../bus.js';
import type { Health } from './health.js';

/** Metrics listen to the bus: every outcome the agent reports moves its series, nothing else does. */
export function metricsFromBus(bus: EventBus, health: Health): () => void {
  const m = health.metrics;
  bus.onFailure((component) => m.listenerFailures.inc({ component }));
  const off = [
    bus.on('frame', 'metrics', (p) => health.frame(p.stagesMs)),
    bus.on('framesDropped', 'metrics', (p) => m.framesDropped.inc({ reason: p.reason }, p.count)),
    bus.on('actuation', 'metrics', (p) => health.actuation(p.outcome)),
    bus.on('outputReport', 'metrics', ({ report }) => {
      // What the command's return could not say yet: it fired, the output is stuck on, it recovered.
      if (report.kind === 'fired' || report.kind === 'stuck' || report.kind === 'recovered') m.actuations.inc({ output: report.output, result: report.kind });
    }),
    bus.on('event', 'metrics', (p) => m.events.inc({ result: p.outcome.status === 'queued' ? 'queued' : 'failed' })),
    bus.on('sinkFailed', 'metrics', (p) => m.sinkFailures.inc({ sink: p.sink })),
    bus.on('restart', 'metrics', (p) => m.restarts.inc({ component: p.component })),
    bus.on('model', 'metrics', (p) => health.setModel(`${p.model.name}/${p.model.variant}`, p.model.accelerator ?? 'unknown')),
    bus.on('thermal', 'metrics', (p) => {
      for (const z of p.zones) m.temperature.set(z.tempC, { zone: z.zone });
    }),
    bus.on('outboxDepth', 'metrics', (p) => m.outboxDepth.set(p.depth)),
  ];
  return () => off.forEach((f) => f());
}
