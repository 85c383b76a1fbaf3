import { z } from 'zod';

/** Where an output is physically driven. */
export const outputDriverSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('dry-run') }).strict(),
  z
    .object({
      type: z.literal('gpiochip'),
      /** /dev/gpiochipN, gpiochipN, or a chip label such as pinctrl-bcm2711. */
      chip: z.string().min(1).default('gpiochip0'),
      /** Line offset, or a line name such as GPIO17. */
      line: z.union([z.number().int().nonnegative(), z.string().min(1)]),
    })
    .strict(),
  z
    .object({
      type: z.literal('sysfs'),
      /** Line offset on the chip (e.g. Broadcom number 17); the sysfs number is the chip base plus this. */
      line: z.number().int().nonnegative(),
      /** Label of the chip whose base to add (e.g. pinctrl-bcm2711); default: the first chip. */
      chipLabel: z.string().optional(),
    })
    .strict(),
  z
    .object({
      type: z.literal('mqtt'),
      /** Command topic of a networked relay (Tasmota: cmnd/<name>/POWER; Shelly Gen1: shellies/<id>/relay/0/command). */
      topic: z.string().min(1),
      payloadOn: z.string().default('ON'),
      payloadOff: z.string().default('OFF'),
      retain: z.boolean().default(false),
      /** QoS of the command; 1 (at least once) so a command is not lost on a flaky link. */
      qos: z.union([z.literal(0), z.literal(1), z.literal(2)]).default(1),
    })
    .strict(),
]);

export const outputSchema = z
  .object({
    driver: outputDriverSchema,
    /** The line is active (relay on, gate open) when driven low. */
    activeLow: z.boolean().default(false),
    /** Hard limit on one activation; enforced by a timer independent of the frame loop. */
    maxOnMs: z.number().positive().default(1_000),
    /** Minimum time off between two activations. */
    minOffMs: z.number().nonnegative().default(0),
    /** Maximum total on-time per local day, seconds. */
    dailyMaxOnS: z.number().positive().optional(),
    /** Several cameras may drive this output (`cameras:`); without it, an output two cameras use is refused. */
    shared: z.boolean().optional(),
  })
  .strict();

export const outputsSchema = z.record(z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, dash or underscore'), outputSchema);

export type OutputConfig = z.infer<typeof outputSchema>;
export type OutputDriverConfig = z.infer<typeof outputDriverSchema>;
