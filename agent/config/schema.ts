import { z } from 'zod';
import { sourceSchema } from './sections/source.js';
import { modelConfigSchema } from './sections/model.js';
import { ruleSchema } from './sections/rules.js';
import { outputsSchema } from './sections/outputs.js';
import { eventsConfigSchema } from './sections/events.js';
import { deviceSchema, healthSchema, pipelineSchema, trackerSchema } from './sections/service.js';
import { sensorsSchema } from './sections/sensors.js';
import { farmConfigIssues, irrigationSchema } from '../irrigation/config.js';
import { statusSchema } from './sections/status.js';

/**
 * The one configuration schema (YAML at /etc/edge-agent/config.yaml). Types, defaults and the JSON Schema
 * for editors all come from here; cross-field checks (rules naming outputs that exist, two outputs on one
 * line) are in superRefine so that every problem is reported at once with its path.
 */
export const configSchema = z
  .object({
    device: deviceSchema,
    log: z.object({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info') }).strict().default({ level: 'info' }),
    source: sourceSchema,
    model: modelConfigSchema,
    pipeline: pipelineSchema,
    tracker: trackerSchema,
    rules: z.array(ruleSchema).default([]),
    outputs: outputsSchema.default({}),
    events: eventsConfigSchema,
    health: healthSchema,
    sensors: sensorsSchema.optional(),
    irrigation: irrigationSchema.optional(),
    status: statusSchema,
    /** Where the outbox and benchmark cache live; default /var/lib/edge-agent under systemd, ./state otherwise. */
    stateDir: z.string().optional(),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    farmConfigIssues(cfg, ctx);
    const names = new Set<string>();
    cfg.rules.forEach((r, i) => {
      if (names.has(r.name)) ctx.addIssue({ code: 'custom', path: ['rules', i, 'name'], message: `duplicate rule name "${r.name}"` });
      names.add(r.name);
      r.actions.forEach((a, j) => {
        if ((a.type === 'pulse' || a.type === 'hold') && !(a.output in cfg.outputs)) {
          ctx.addIssue({
            code: 'custom',
            path: ['rules', i, 'actions', j, 'output'],
            message: `no output named "${a.output}" (configured: ${Object.keys(cfg.outputs).join(', ') || 'none'})`,
          });
        }
        if (a.type === 'pulse' && a.output in cfg.outputs && a.widthMs > cfg.outputs[a.output]!.maxOnMs) {
          ctx.addIssue({
            code: 'custom',
            path: ['rules', i, 'actions', j, 'widthMs'],
            message: `pulse of ${a.widthMs} ms is longer than output "${a.output}" allows (maxOnMs ${cfg.outputs[a.output]!.maxOnMs})`,
          });
        }
        if (a.type === 'hold' && a.output in cfg.outputs && a.durationMs > cfg.outputs[a.output]!.maxOnMs) {
          ctx.addIssue({
            code: 'custom',
            path: ['rules', i, 'actions', j, 'durationMs'],
            message: `hold of ${a.durationMs} ms is longer than output "${a.output}" allows (maxOnMs ${cfg.outputs[a.output]!.maxOnMs})`,
          });
        }
      });
    });
    const lines = new Map<string, string>();
    for (const [name, out] of Object.entries(cfg.outputs)) {
      const d = out.driver;
      const key = d.type === 'gpiochip' ? `gpiochip:${d.chip.replace(/^\/dev\//, '')}:${d.line}` : d.type === 'sysfs' ? `sysfs:${d.chipLabel ?? ''}:${d.line}` : d.type === 'mqtt' ? `mqtt:${d.topic}` : undefined;
      if (!key) continue;
      const other = lines.get(key);
      if (other) ctx.addIssue({ code: 'custom', path: ['outputs', name, 'driver'], message: `drives the same line as output "${other}" (${key})` });
      else lines.set(key, name);
    }
  });

export type AgentConfig = z.infer<typeof configSchema>;
export type AgentConfigInput = z.input<typeof configSchema>;
