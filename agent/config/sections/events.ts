import { z } from 'zod';

export const mqttConfigSchema = z
  .object({
    /** Broker URL(s): mqtt://host:1883, mqtts://host:8883. Several are tried in turn. */
    url: z.union([z.string().regex(/^mqtts?:\/\//, 'an mqtt:// or mqtts:// URL'), z.array(z.string().regex(/^mqtts?:\/\//)).min(1)]),
    clientId: z.string().optional(),
    topicPrefix: z.string().default('edge-agent'),
    keepaliveS: z.number().int().positive().default(30),
    username: z.string().optional(),
    /** Password from a file (preferred) or an environment variable; never inline. */
    passwordFile: z.string().optional(),
    passwordEnv: z.string().optional(),
    tls: z
      .object({
        ca: z.string().optional(),
        cert: z.string().optional(),
        key: z.string().optional(),
        /** Skip server certificate checks. Logged at every start; never the default. */
        insecure: z.boolean().default(false),
      })
      .strict()
      .optional(),
    snapshots: z
      .object({ enabled: z.boolean().default(false), maxBytes: z.number().int().positive().default(200_000) })
      .strict()
      .default({ enabled: false, maxBytes: 200_000 }),
    homeAssistant: z.object({ discovery: z.boolean().default(false), prefix: z.string().default('homeassistant') }).strict().optional(),
  })
  .strict();

export const outboxConfigSchema = z
  .object({
    maxEvents: z.number().int().positive().default(100_000),
    maxBytes: z.number().int().positive().default(256 * 1024 * 1024),
    maxAgeDays: z.number().positive().default(30),
  })
  .strict()
  .default({ maxEvents: 100_000, maxBytes: 256 * 1024 * 1024, maxAgeDays: 30 });

export const eventsConfigSchema = z
  .object({
    /** Append one JSON event per line to this file. */
    jsonl: z.string().optional(),
    mqtt: mqttConfigSchema.optional(),
    outbox: outboxConfigSchema,
  })
  .strict()
  .default({ outbox: { maxEvents: 100_000, maxBytes: 256 * 1024 * 1024, maxAgeDays: 30 } });

export type MqttConfig = z.infer<typeof mqttConfigSchema>;
export type EventsConfig = z.infer<typeof eventsConfigSchema>;
