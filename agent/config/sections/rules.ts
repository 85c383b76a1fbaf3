import { z } from 'zod';
import { polygonProblem } from '../../rules/zone.js';

const point = z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]);

/** A polygon in normalised picture coordinates (0..1), at least 3 points. */
export const zoneSchema = z
  .object({
    polygon: z.array(point).min(3, 'a zone polygon needs at least 3 points'),
    /** What must be inside: the box centre, or the whole box. */
    test: z.enum(['center', 'box']).default('center'),
  })
  .strict()
  .superRefine((zone, ctx) => {
    const problem = polygonProblem(zone.polygon);
    if (problem) ctx.addIssue({ code: 'custom', path: ['polygon'], message: problem });
  });

const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a time as HH:MM (24 h)');

/** A local-time window; from > to wraps past midnight. */
export const scheduleWindowSchema = z
  .object({
    from: hhmm,
    to: hhmm,
    days: z.array(z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'])).optional(),
  })
  .strict();

export const pulseActionSchema = z
  .object({
    type: z.literal('pulse'),
    output: z.string().min(1),
    /** Travel time from the camera to the actuator, measured from the frame's capture time. */
    delayMs: z.number().nonnegative().default(0),
    widthMs: z.number().positive(),
  })
  .strict();

export const holdActionSchema = z
  .object({
    type: z.literal('hold'),
    output: z.string().min(1),
    durationMs: z.number().positive(),
  })
  .strict();

export const eventActionSchema = z
  .object({
    type: z.literal('event'),
    /** Attach a JPEG snapshot with boxes drawn (MQTT sink). */
    snapshot: z.boolean().default(false),
  })
  .strict();

export const actionSchema = z.discriminatedUnion('type', [pulseActionSchema, holdActionSchema, eventActionSchema]);

const ruleCommon = {
  name: z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, dash or underscore'),
  zone: zoneSchema.optional(),
  schedule: z.array(scheduleWindowSchema).optional(),
  cooldownMs: z.number().nonnegative().default(0),
  actions: z.array(actionSchema).min(1, 'a rule needs at least one action'),
};

/** An anomaly: one of these labels at or above its score, persisting N of the last M frames of one track. */
export const anomalyRuleSchema = z
  .object({
    type: z.literal('anomaly'),
    labels: z.record(z.string(), z.number().min(0).max(1)).refine((r) => Object.keys(r).length > 0, 'name at least one label with its minimum score'),
    persistence: z
      .object({ n: z.number().int().positive(), m: z.number().int().positive() })
      .strict()
      .refine((p) => p.n <= p.m, 'persistence.n must be <= persistence.m')
      .default({ n: 1, m: 1 }),
    /** One event per tracked object (the default), or one per frame that satisfies the rule (limited by cooldown). */
    perTrack: z.boolean().default(true),
    ...ruleCommon,
  })
  .strict();

/** Fewer or more than `count` objects of a label for `forMs` (e.g. no plants visible, queue too long). */
export const countRuleSchema = z
  .object({
    type: z.literal('count'),
    label: z.string().min(1),
    minScore: z.number().min(0).max(1).default(0.5),
    op: z.enum(['lt', 'gt']),
    count: z.number().int().nonnegative(),
    forMs: z.number().nonnegative().default(0),
    ...ruleCommon,
  })
  .strict();

/** No object of a label for `forMs`. */
export const absenceRuleSchema = z
  .object({
    type: z.literal('absence'),
    label: z.string().min(1),
    minScore: z.number().min(0).max(1).default(0.5),
    forMs: z.number().positive(),
    ...ruleCommon,
  })
  .strict();

export const ruleSchema = z.discriminatedUnion('type', [anomalyRuleSchema, countRuleSchema, absenceRuleSchema]);

export type RuleConfig = z.infer<typeof ruleSchema>;
export type AnomalyRuleConfig = z.infer<typeof anomalyRuleSchema>;
export type ActionConfig = z.infer<typeof actionSchema>;
