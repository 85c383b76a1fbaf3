import { z } from 'zod';

export const deviceSchema = z
  .object({
    /** Device id used in MQTT topics and events; default: edge-<12 hex digits> hashed from /etc/machine-id (agent/device-id.ts), else the host name. */
    id: z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, dash or underscore (it is used in MQTT topics)').optional(),
    name: z.string().optional(),
  })
  .strict()
  .default({});

export const healthSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** host:port of the local /healthz and /metrics endpoint; 127.0.0.1 by default (no remote access). */
    listen: z.string().regex(/^[^:]+:\d+$/, 'host:port, e.g. 127.0.0.1:9464').default('127.0.0.1:9464'),
  })
  .strict()
  .default({ enabled: true, listen: '127.0.0.1:9464' });

export const trackerSchema = z
  .object({
    /** Minimum IoU to continue a track. */
    iou: z.number().min(0).max(1).default(0.3),
    /** A track not seen for this long ends. */
    maxAgeMs: z.number().positive().default(1_000),
    /** When IoU fails, match a detection whose centre is within this fraction of the box size of the prediction. */
    centreGate: z.number().min(0).max(5).default(0.75),
  })
  .strict()
  .default({ iou: 0.3, maxAgeMs: 1_000, centreGate: 0.75 });

export const pipelineSchema = z
  .object({
    /**
     * An inference running longer than this restarts the backend. With model.inferenceThread main the check can
     * only run once the call returns; a call that never returns stops the frame loop, so the stall check
     * (stallMs) drives the outputs safe and the systemd watchdog restarts the service.
     */
    inferenceTimeoutMs: z.number().positive().default(10_000),
    /** No frame through the loop for this long: the loop counts as stalled (watchdog stops, outputs go safe). */
    stallMs: z.number().positive().default(10_000),
    motionGate: z
      .object({
        enabled: z.boolean().default(false),
        /** Mean absolute grey difference (0..255) below which a frame counts as unchanged. */
        threshold: z.number().nonnegative().default(2),
        /** Infer at least this often even when nothing moves. */
        forceEveryMs: z.number().positive().default(5_000),
      })
      .strict()
      .default({ enabled: false, threshold: 2, forceEveryMs: 5_000 }),
    governor: z
      .object({
        enabled: z.boolean().default(false),
        /** Step down when p95 latency exceeds the budget for this long. */
        overBudgetMs: z.number().positive().default(10_000),
        /** Step down above this SoC temperature, back up below it minus the hysteresis. */
        maxTempC: z.number().positive().default(80),
        hysteresisC: z.number().nonnegative().default(5),
      })
      .strict()
      .default({ enabled: false, overBudgetMs: 10_000, maxTempC: 80, hysteresisC: 5 }),
  })
  .strict()
  .default({
    inferenceTimeoutMs: 10_000,
    stallMs: 10_000,
    motionGate: { enabled: false, threshold: 2, forceEveryMs: 5_000 },
    governor: { enabled: false, overBudgetMs: 10_000, maxTempC: 80, hysteresisC: 5 },
  });
