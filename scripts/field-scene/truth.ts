/**
 * Ground truth of a field scene, from the same state the renderer draws: per zone and frame the soil moisture,
 * whether the zone needed water, how wilted its leaves looked; rain; the light phase; the visitors with their
 * boxes; and the readings a soil-moisture sensor per zone and a rain gauge would have published (with the
 * sensor's gaps left out, as a sensor with a flat battery sends nothing).
 */
import { type FieldScene, FIELD_GENERATOR_VERSION, MINUTES_PER_FRAME, NEEDS_WATER_BELOW, lightPhase, visitorAt } from './scene.js';
import { mixSeed, mulberry32 } from '../demo-scene/prng.js';

/** Leaves at or above this wilt show it plainly (what the model is trained to call "wilted"). */
export const WILTED_FROM = 0.35;

export interface FieldTruthZone {
  id: number;
  name: string;
  /** Soil bed, normalised [x1, y1, x2, y2]. */
  box: [number, number, number, number];
  /** The sensor name readings are published under. */
  sensor: string;
  /** Per frame: soil moisture %, one decimal. */
  moisture: number[];
  /** Per frame: 1 when moisture < needsWaterBelow and it is not raining. */
  needsWater: Array<0 | 1>;
  /** Per frame: 1 when the soil looks dry (moisture < needsWaterBelow). */
  drySoil: Array<0 | 1>;
  /** Per frame: 1 when the leaves look wilted (wilt >= WILTED_FROM). */
  wilted: Array<0 | 1>;
  /** Frames where the farmer watered the zone by hand. */
  wateredAt: number[];
  /** Frame ranges [first, last] in which the zone's sensor published nothing. */
  sensorGaps: Array<[number, number]>;
}

export interface FieldTruth {
  generator: number;
  seed: number;
  width: number;
  height: number;
  fps: number;
  frames: number;
  /** Scene minutes per frame; frame 0 is local midnight of the scene's day. */
  minutesPerFrame: number;
  needsWaterBelow: number;
  zones: FieldTruthZone[];
  /** Per frame: 1 while it rains; and the rain gauge's mm in that frame's interval. */
  raining: Array<0 | 1>;
  rainMm: number[];
  light: string[];
  visitors: Array<{ kind: string; frames: [number, number]; boxes: Array<[number, number, number, number, number]> }>;
  /**
   * What the sensors published: sensor name -> [frame, value] (soil moisture %, rain mm per interval). A soil
   * sensor reads the true moisture with +-1.5 points of noise.
   */
  readings: Record<string, Array<[number, number]>>;
}

const r1 = (v: number) => Math.round(v * 10) / 10;

export function fieldTruth(scene: FieldScene): FieldTruth {
  const { width: W, height: H } = scene;
  const noise = mulberry32(mixSeed(scene.seed, 900));
  const zones: FieldTruthZone[] = scene.zones.map((z) => ({
    id: z.id,
    name: z.name,
    box: [z.box[0] / W, z.box[1] / H, z.box[2] / W, z.box[3] / H],
    sensor: `soil/${z.name}`,
    moisture: [],
    needsWater: [],
    drySoil: [],
    wilted: [],
    wateredAt: [],
    sensorGaps: scene.sensorGaps[z.id]!,
  }));
  const readings: Record<string, Array<[number, number]>> = { rain: [] };
  for (const z of zones) readings[z.sensor] = [];
  const raining: Array<0 | 1> = [];
  const rainMm: number[] = [];
  const light: string[] = [];
  scene.states.forEach((s, t) => {
    raining.push(s.raining ? 1 : 0);
    rainMm.push(r1(s.rainMm));
    light.push(lightPhase((t * MINUTES_PER_FRAME) % 1440));
    readings.rain!.push([t, r1(s.rainMm)]);
    for (const z of zones) {
      const m = s.moisture[z.id]!;
      z.moisture.push(r1(m));
      // Decided on the published (rounded) value so that the truth file is consistent with itself.
      const dry = r1(m) < NEEDS_WATER_BELOW;
      z.drySoil.push(dry ? 1 : 0);
      z.needsWater.push(dry && !s.raining ? 1 : 0);
      z.wilted.push(s.wilt[z.id]! >= WILTED_FROM ? 1 : 0);
      if (s.watered[z.id]) z.wateredAt.push(t);
      const quiet = z.sensorGaps.some(([a, b]) => t >= a && t <= b);
      const n = (noise() + noise() - 1) * 1.5;
      if (!quiet) readings[z.sensor]!.push([t, r1(m + n)]);
    }
  });
  const visitors = scene.visitors.map((v) => {
    const boxes: Array<[number, number, number, number, number]> = [];
    for (let t = v.frames[0]; t <= v.frames[1]; t++) {
      const at = visitorAt(v, t)!;
      const s = v.size;
      boxes.push([t, r1(Math.max(0, at[0] - s) / W), r1(Math.max(0, at[1] - s) / H), r1(Math.min(W, at[0] + s) / W), r1(Math.min(H, at[1] + s) / H)]);
    }
    return { kind: v.kind, frames: v.frames, boxes };
  });
  return {
    generator: FIELD_GENERATOR_VERSION,
    seed: scene.seed,
    width: W,
    height: H,
    fps: scene.fps,
    frames: scene.frames,
    minutesPerFrame: MINUTES_PER_FRAME,
    needsWaterBelow: NEEDS_WATER_BELOW,
    zones,
    raining,
    rainMm,
    light,
    visitors,
    readings,
  };
}
