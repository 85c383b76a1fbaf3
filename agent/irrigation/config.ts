import { z } from 'zod';
import { zoneSchema } from '../config/sections/rules.js';

const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a time as HH:MM (24 h)');
const dayName = z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']);

/** A local-time watering window; from > to wraps past midnight. A window must open: from != to, days not empty. */
export const waterWindowSchema = z
  .object({ from: hhmm, to: hhmm, days: z.array(dayName).optional() })
  .strict()
  .superRefine((w, ctx) => {
    if (w.from === w.to) ctx.addIssue({ code: 'custom', path: ['to'], message: `window ${w.from}-${w.to} never opens (zero length); give a later "to"` });
    if (w.days && w.days.length === 0) ctx.addIssue({ code: 'custom', path: ['days'], message: 'window never opens (no days); name at least one day or leave days out' });
  });

export const irrigationZoneSchema = z
  .object({
    /** The output (relay) of the zone's valve. */
    valve: z.string().min(1),
    /** Where the zone is in the picture (normalised polygon); camera detections inside it count for the zone. */
    area: zoneSchema,
    camera: z
      .object({
        /** Labels that mean "needs water" with their minimum score. */
        labels: z.record(z.string(), z.number().min(0).max(1)).default({ wilted: 0.6, dry_soil: 0.6 }),
        /** Consecutive frames the camera must agree before it counts. */
        frames: z.number().int().positive().default(3),
      })
      .strict()
      .default({ labels: { wilted: 0.6, dry_soil: 0.6 }, frames: 3 }),
    /** Soil-moisture sensor (a name in sensors.inputs) and the level below which the zone may water, %. */
    sensor: z.string().min(1).optional(),
    belowPct: z.number().min(0).max(100).default(30),
    /** Level a watering aims for; the deficit (target - reading) sets the duration. */
    targetPct: z.number().min(0).max(100).default(45),
    /** Valve seconds per moisture point (measured once: open the valve 60 s and see how far the probe rises). */
    secondsPerPct: z.number().positive().default(6),
    /** Duration when no sensor value is used (camera-only zones and fallback). */
    cameraOnlyS: z.number().positive().optional(),
    /** Required: the longest one watering may last, seconds. */
    maxOnS: z.number({ error: (iss) => (iss.input === undefined ? 'required: every valve needs a max on-time (seconds one watering may last)' : undefined) }).positive(),
    minOnS: z.number().positive().default(10),
    minOffS: z.number().nonnegative().default(0),
    cooldownS: z.number().nonnegative().default(0),
    /** This zone's water budget per local day, valve seconds. */
    dailyMaxOnS: z.number().positive().optional(),
    /** Overrides irrigation.schedule for this zone. */
    schedule: z.array(waterWindowSchema).min(1).optional(),
  })
  .strict();

export const irrigationSchema = z
  .object({
    /** The camera whose frames feed irrigation (a multi-camera agent); default: the first camera that reports. */
    camera: z.string().min(1).optional(),
    /** IANA time zone for windows and the day boundary; default the device's (TZ). */
    timeZone: z.string().optional(),
    /** At most this many valves open at once (they share a pump). */
    maxOpen: z.number().int().positive().default(1),
    /** Whole-farm water budget per local day, valve seconds. */
    dailyMaxOnS: z.number().positive().optional(),
    schedule: z.array(waterWindowSchema).min(1).optional(),
    /** Rain: a sensor whose value above `above` means raining; no watering while it rains. */
    rain: z.object({ sensor: z.string().min(1), above: z.number().default(0) }).strict().optional(),
    /** What a zone does when its sensor (or the rain sensor) is stale or silent: water on the camera alone, or not at all. */
    sensorFallback: z.enum(['camera-only', 'none']).default('none'),
    zones: z.record(z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, dash or underscore'), irrigationZoneSchema),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    if (cfg.timeZone !== undefined) {
      try {
        new Intl.DateTimeFormat('en-US', { timeZone: cfg.timeZone });
      } catch {
        ctx.addIssue({ code: 'custom', path: ['timeZone'], message: `unknown time zone "${cfg.timeZone}" (an IANA name such as Europe/Berlin)` });
      }
    }
    for (const [name, z] of Object.entries(cfg.zones)) {
      if (z.minOnS > z.maxOnS) ctx.addIssue({ code: 'custom', path: ['zones', name, 'minOnS'], message: `minOnS ${z.minOnS} is above maxOnS ${z.maxOnS}` });
    }
  });

export type IrrigationConfig = z.infer<typeof irrigationSchema>;
export type IrrigationZoneConfig = z.infer<typeof irrigationZoneSchema>;
export type WaterWindow = z.infer<typeof waterWindowSchema>;

interface Ctx {
  addIssue(i: { code: 'custom'; path: PropertyKey[]; message: string }): void;
}

/**
 * Cross-section checks (called from the config schema's superRefine): every valve is a configured output whose
 * maxOnMs allows the zone's maxOnS, every sensor named is provided by an input, mqtt sensors have a broker.
 */
export function farmConfigIssues(
  cfg: { irrigation?: IrrigationConfig; sensors?: { inputs: Record<string, { type: string }>; broker?: unknown }; outputs: Record<string, { maxOnMs: number }>; events?: { mqtt?: unknown } },
  ctx: Ctx,
): void {
  const inputs = cfg.sensors?.inputs ?? {};
  const provided = Object.keys(inputs);
  if (Object.values(inputs).some((i) => i.type === 'mqtt') && !cfg.sensors?.broker && !cfg.events?.mqtt) {
    ctx.addIssue({ code: 'custom', path: ['sensors', 'broker'], message: 'mqtt sensors need a broker: set sensors.broker.url or events.mqtt.url' });
  }
  const irr = cfg.irrigation;
  if (!irr) return;
  const known = `(provided: ${provided.join(', ') || 'none'})`;
  if (irr.rain && !(irr.rain.sensor in inputs)) {
    ctx.addIssue({ code: 'custom', path: ['irrigation', 'rain', 'sensor'], message: `no sensor input provides "${irr.rain.sensor}" ${known}; add it under sensors.inputs` });
  }
  const valves = new Map<string, string>();
  for (const [name, z] of Object.entries(irr.zones)) {
    if (z.sensor !== undefined && !(z.sensor in inputs)) {
      ctx.addIssue({ code: 'custom', path: ['irrigation', 'zones', name, 'sensor'], message: `no sensor input provides "${z.sensor}" ${known}; add it under sensors.inputs` });
    }
    const out = cfg.outputs[z.valve];
    if (!out) {
      ctx.addIssue({ code: 'custom', path: ['irrigation', 'zones', name, 'valve'], message: `no output named "${z.valve}" (configured: ${Object.keys(cfg.outputs).join(', ') || 'none'})` });
    } else if (z.maxOnS * 1000 > out.maxOnMs) {
      ctx.addIssue({ code: 'custom', path: ['irrigation', 'zones', name, 'maxOnS'], message: `maxOnS ${z.maxOnS} is longer than output "${z.valve}" allows (maxOnMs ${out.maxOnMs}); raise the output's maxOnMs or lower maxOnS` });
    }
    const other = valves.get(z.valve);
    if (other) ctx.addIssue({ code: 'custom', path: ['irrigation', 'zones', name, 'valve'], message: `valve "${z.valve}" is already zone "${other}"'s` });
    else valves.set(z.valve, name);
  }
}
