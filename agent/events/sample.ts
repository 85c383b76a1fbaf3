import type { AnomalyEvent } from '../types.js';
import { uuidv7 } from './uuidv7.js';

/**
 * A complete, schema-1 anomaly event with made-up evidence: for `docs/mqtt.md`, the benchmark, the broker
 * smoke tool and tests. `n` goes into the frame number and track id so a stream of them can be told apart.
 */
export function sampleEvent(n: number, overrides: Partial<AnomalyEvent> = {}, wallMs = Date.now()): AnomalyEvent {
  const ts = new Date(wallMs).toISOString();
  return {
    schema: 1,
    id: uuidv7(),
    ts,
    rule: 'person-in-zone',
    label: 'person',
    score: 0.87,
    bbox: [0.41, 0.22, 0.58, 0.91],
    trackId: n,
    frame: { seq: n, ts },
    model: { name: 'ssd-mobilenet-v2', variant: 'int8-edgetpu', sha256: 'c0ffee'.padEnd(64, '0'), accelerator: 'edgetpu' },
    thresholds: { score: 0.5, iou: 0.45, persistFrames: 3 },
    latencyMs: { capture: 2.1, preprocess: 1.4, inference: 8.9, decode: 0.6, rules: 0.1 },
    actions: [{ type: 'pulse', output: 'siren', status: 'fired', widthMs: 500 }, { type: 'event', status: 'queued' }],
    device: 'demo-pi',
    ...overrides,
  };
}
