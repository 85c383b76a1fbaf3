import { z } from 'zod';
import { sourceSchema, type SourceConfig } from './sections/source.js';
import { modelConfigSchema } from './sections/model.js';
import { ruleSchema } from './sections/rules.js';
import { outputsSchema } from './sections/outputs.js';
import { eventsConfigSchema } from './sections/events.js';
import { deviceSchema, healthSchema, pipelineSchema, trackerSchema } from './sections/service.js';
import { sensorsSchema } from './sections/sensors.js';
import { farmConfigIssues, irrigationSchema } from '../irrigation/config.js';
import { statusSchema } from './sections/status.js';
import { cameraIssues, camerasSchema, modelsSchema, ruleOutputIssues } from './sections/cameras.js';

/**
 * The one configuration schema (YAML at /etc/edge-agent/config.yaml). Types, defaults and the JSON Schema
 * for editors all come from here; cross-field checks (rules naming outputs that exist, two outputs on one
 * line) are in superRefine so that every problem is reported at once with its path.
 */
export const configSchema = z
  .object({
    device: deviceSchema,
    log: z.object({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info') }).strict().default({ level: 'info' }),
    /** One camera (named "default"); or `cameras:` for several. */
    source: sourceSchema.optional(),
    /** Several cameras, each with its own source, rules (and their zones) and outputs; by name. */
    cameras: camerasSchema.optional(),
    /** The model cameras name by default ("default"). */
    model: modelConfigSchema,
    /** More models by name, for cameras whose `model:` names one (each model name gets one model host). */
    models: modelsSchema.optional(),
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
    ruleOutputIssues(cfg.rules, cfg.outputs, ctx, ['rules']);
    cameraIssues(cfg, ctx);
    const lines = new Map<string, string>();
    for (const [name, out] of Object.entries(cfg.outputs)) {
      const d = out.driver;
      const key = d.type === 'gpiochip' ? `gpiochip:${d.chip.replace(/^\/dev\//, '')}:${d.line}` : d.type === 'sysfs' ? `sysfs:${d.chipLabel ?? ''}:${d.line}` : d.type === 'mqtt' ? `mqtt:${d.topic}` : undefined;
      if (!key) continue;
      const other = lines.get(key);
      if (other) ctx.addIssue({ code: 'custom', path: ['outputs', name, 'driver'], message: `drives the same line as output "${other}" (${key})` });
      else lines.set(key, name);
    }
  })
  // The single-camera code paths (run --source, check-config, detect) read `source`: with `cameras:` it is the first camera's.
  .transform((cfg) => ({ ...cfg, source: (cfg.source ?? firstSource(cfg.cameras)) as SourceConfig }));

/** The first camera's source (undefined only in a config the checks above already refused). */
function firstSource(c: z.infer<typeof camerasSchema> | undefined): SourceConfig | undefined {
  if (!c) return undefined;
  return Array.isArray(c) ? c[0]?.source : Object.values(c)[0]?.source;
}

export type AgentConfig = z.infer<typeof configSchema>;
export type AgentConfigInput = z.input<typeof configSchema>;
