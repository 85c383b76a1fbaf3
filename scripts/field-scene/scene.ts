/**
 * The field scene: a bench of irrigation zones seen from above over one or more days, as a time-lapse (one frame
 * every few minutes). This file is the simulation (soil moisture, wilting, rain, daylight, visitors) and the
 * ground truth derived from exactly what is drawn; render.ts draws a frame; write.ts encodes the clip.
 *
 * Moisture model (simple, but with the right shape): soil dries by evapotranspiration that follows the sun
 * (fastest at noon, almost none at night), rain and the farmer's scripted waterings add water, and leaves wilt
 * with a lag behind the soil (turgor is lost a little after the roots run dry and regained an hour or so after
 * watering). A zone "needs water" when its soil moisture is below NEEDS_WATER_BELOW and it is not raining.
 */
import { mixSeed, mulberry32, uniform, intBetween, type Rng } from '../demo-scene/prng.js';

export const FIELD_WIDTH = 160;
export const FIELD_HEIGHT = 120;
/** Frames per second of the time-lapse clip (one frame = MINUTES_PER_FRAME of scene time). */
export const FIELD_FPS = 12;
export const MINUTES_PER_FRAME = 5;
export const NEEDS_WATER_BELOW = 30;
/** Bumped whenever the same seed would render different pixels or truth. */
export const FIELD_GENERATOR_VERSION = 1;

export interface FieldOptions {
  seed: number;
  /** Scene length in hours (default 24), starting at local midnight. */
  hours?: number;
}

export interface Leaf {
  /** Angle from the stem, radians (0 = up in the picture... measured from +x, y down). */
  angle: number;
  length: number;
  width: number;
}

export interface Plant {
  x: number;
  y: number;
  leaves: Leaf[];
  /** Wind phase, radians. */
  phase: number;
}

export interface FieldZone {
  id: number;
  name: string;
  /** Soil bed in pixels, [x1, y1, x2, y2) . */
  box: [number, number, number, number];
  plants: Plant[];
  /** Soil tint per pixel of the bed (texture), 0.85..1.15. */
  texture: Float32Array;
  /** Water loss per hour at full sun, moisture points. */
  thirst: number;
}

export type VisitorKind = 'person' | 'bird' | 'tractor-shadow';

export interface Visitor {
  kind: VisitorKind;
  /** First and last frame. */
  frames: [number, number];
  /** Centre path: start and end (pixels). */
  from: [number, number];
  to: [number, number];
  size: number;
}

export interface FieldState {
  moisture: number[];
  wilt: number[];
  raining: boolean;
  rainMm: number;
  /** Zones the farmer watered in this frame (truth: the soil darkens). */
  watered: boolean[];
}

export interface FieldScene {
  seed: number;
  width: number;
  height: number;
  fps: number;
  frames: number;
  zones: FieldZone[];
  visitors: Visitor[];
  /** Per frame: cloud cover 0..1 and the cloud shadow's centre x. */
  clouds: Array<{ cover: number; x: number }>;
  states: FieldState[];
  /** Per zone, frames where its soil sensor does not publish (a flat battery). */
  sensorGaps: Array<Array<[number, number]>>;
  background: Float32Array;
}

/** Sun elevation proxy from the minute of the day: -1 at midnight, 1 at 13:00 solar noon (summer day, 05:00-21:00). */
export function sunAt(minuteOfDay: number): number {
  const h = minuteOfDay / 60;
  // Day from 05:00 to 21:00: elevation = sin over that span, below zero at night.
  const x = (h - 5) / 16;
  return x >= 0 && x <= 1 ? Math.sin(Math.PI * x) : -Math.min(1, Math.min(Math.abs(x), Math.abs(x - 1)) * 4);
}

/** Light phase name of a minute of the day, for the truth and the training data's balance. */
export function lightPhase(minuteOfDay: number): 'night' | 'dawn' | 'day' | 'noon' | 'dusk' {
  const s = sunAt(minuteOfDay);
  if (s <= 0.02) return 'night';
  if (s < 0.3) return minuteOfDay < 13 * 60 ? 'dawn' : 'dusk';
  if (s > 0.92) return 'noon';
  return 'day';
}

function makePlants(box: [number, number, number, number], rng: Rng): Plant[] {
  const plants: Plant[] = [];
  const [x1, y1, x2, y2] = box;
  const cols = 3;
  const rows = 2;
  const dx = (x2 - x1) / cols;
  const dy = (y2 - y1) / rows;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const leaves: Leaf[] = [];
      const n = intBetween(rng, 5, 7);
      const turn = uniform(rng, 0, Math.PI * 2);
      for (let k = 0; k < n; k++) {
        leaves.push({ angle: turn + (k / n) * Math.PI * 2 + uniform(rng, -0.25, 0.25), length: uniform(rng, 6, 8.5), width: uniform(rng, 2.2, 3.2) });
      }
      plants.push({
        x: x1 + dx * (c + 0.5) + uniform(rng, -2, 2),
        y: y1 + dy * (r + 0.5) + uniform(rng, -2, 2),
        leaves,
        phase: uniform(rng, 0, Math.PI * 2),
      });
    }
  }
  return plants;
}

export function generateField(opts: FieldOptions): FieldScene {
  const { seed } = opts;
  const hours = opts.hours ?? 24;
  const W = FIELD_WIDTH;
  const H = FIELD_HEIGHT;
  const frames = Math.max(1, Math.round((hours * 60) / MINUTES_PER_FRAME));
  const rng = mulberry32(mixSeed(seed, 11));

  // Four beds, 2x2, separated by grass paths.
  const boxes: Array<[number, number, number, number]> = [
    [8, 8, 76, 56],
    [84, 8, 152, 56],
    [8, 64, 76, 112],
    [84, 64, 152, 112],
  ];
  const zones: FieldZone[] = boxes.map((box, id) => {
    const zr = mulberry32(mixSeed(seed, 200 + id));
    const tex = new Float32Array((box[2] - box[0]) * (box[3] - box[1]));
    for (let i = 0; i < tex.length; i++) tex[i] = uniform(zr, 0.88, 1.12);
    return { id, name: `zone-${id + 1}`, box, plants: makePlants(box, zr), texture: tex, thirst: uniform(zr, 1.6, 3.4) };
  });

  const background = new Float32Array(W * H * 3);
  const br = mulberry32(mixSeed(seed, 12));
  for (let i = 0; i < W * H; i++) {
    const g = uniform(br, 0.8, 1.2);
    background[i * 3] = 62 * g;
    background[i * 3 + 1] = 96 * g;
    background[i * 3 + 2] = 44 * g;
  }

  // Rain: on about half the seeds one shower of 1-3 h somewhere in the day.
  const rainFrames = new Set<number>();
  if (rng() < 0.5) {
    const start = intBetween(rng, 0, Math.max(0, frames - 40));
    const len = intBetween(rng, 12, 36);
    for (let t = start; t < Math.min(frames, start + len); t++) rainFrames.add(t);
  }
  // The farmer waters some zones by hand once (the soil darkens, the leaves recover).
  const manual = new Map<number, number>();
  for (const z of zones) if (rng() < 0.5) manual.set(z.id, intBetween(rng, Math.floor(frames * 0.2), Math.floor(frames * 0.8)));

  const moisture = zones.map(() => uniform(rng, 22, 55));
  const wilt = moisture.map((m) => clamp01((34 - m) / 12));
  const states: FieldState[] = [];
  const clouds: Array<{ cover: number; x: number }> = [];
  let cloudCover = rng() < 0.5 ? uniform(rng, 0, 0.6) : 0;
  let cloudX = uniform(rng, 0, W);
  for (let t = 0; t < frames; t++) {
    const minute = (t * MINUTES_PER_FRAME) % 1440;
    const sun = Math.max(0, sunAt(minute));
    const raining = rainFrames.has(t);
    cloudCover = raining ? Math.min(1, cloudCover + 0.2) : clamp01(cloudCover + uniform(rng, -0.08, 0.08));
    cloudX = (cloudX + uniform(rng, 2, 8)) % (W + 80);
    clouds.push({ cover: cloudCover, x: cloudX - 40 });
    const rainMm = raining ? uniform(rng, 0.2, 1.0) : 0;
    const watered: boolean[] = [];
    for (const z of zones) {
      const loss = (z.thirst * sun * (1 - 0.6 * cloudCover) * MINUTES_PER_FRAME) / 60;
      let m = moisture[z.id]! - loss - 0.01 + rainMm * 2.2;
      const w = manual.get(z.id) === t;
      if (w) m += uniform(rng, 28, 40);
      moisture[z.id] = Math.max(5, Math.min(75, m));
      // Leaves follow the soil with a lag: toward the target by 15 % a frame (about half an hour to half-way).
      const target = clamp01((34 - moisture[z.id]!) / 12);
      wilt[z.id] = wilt[z.id]! + (target - wilt[z.id]!) * 0.15;
      watered.push(w);
    }
    states.push({ moisture: [...moisture], wilt: [...wilt], raining, rainMm, watered });
  }

  const visitors: Visitor[] = [];
  const vr = mulberry32(mixSeed(seed, 13));
  const kinds: VisitorKind[] = ['person', 'bird', 'tractor-shadow', 'bird'];
  for (const kind of kinds) {
    const len = kind === 'person' ? intBetween(vr, 4, 8) : kind === 'bird' ? intBetween(vr, 2, 4) : intBetween(vr, 3, 6);
    // Visitors come in daylight, when the farm is busy (the bird also at dawn).
    const first = Math.floor((6 * 60) / MINUTES_PER_FRAME);
    const last = Math.floor((19 * 60) / MINUTES_PER_FRAME);
    if (frames <= len + 1) continue;
    const lo = Math.min(first, frames - len - 1);
    const hi = Math.max(lo, Math.min(last, frames - len - 1));
    const start = intBetween(vr, lo, hi);
    const y = uniform(vr, 15, H - 15);
    const size = kind === 'person' ? uniform(vr, 9, 12) : kind === 'bird' ? uniform(vr, 3, 5) : uniform(vr, 30, 40);
    const left = vr() < 0.5;
    visitors.push({ kind, frames: [start, start + len - 1], from: [left ? -size : W + size, y], to: [left ? W + size : -size, y + uniform(vr, -20, 20)], size });
  }

  // One zone's soil sensor goes quiet for a couple of hours on some seeds (flat battery): fallback tests.
  const sensorGaps: Array<Array<[number, number]>> = zones.map(() => []);
  if (rng() < 0.5 && frames > 40) {
    const z = intBetween(rng, 0, zones.length - 1);
    const start = intBetween(rng, 0, frames - 30);
    sensorGaps[z]!.push([start, start + intBetween(rng, 12, 28)]);
  }
  return { seed, width: W, height: H, fps: FIELD_FPS, frames, zones, visitors, clouds, states, sensorGaps, background };
}

export function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

/** Where a visitor is at frame t, or undefined if not in the scene then. */
export function visitorAt(v: Visitor, t: number): [number, number] | undefined {
  if (t < v.frames[0] || t > v.frames[1]) return undefined;
  const span = Math.max(1, v.frames[1] - v.frames[0]);
  const k = (t - v.frames[0]) / span;
  return [v.from[0] + (v.to[0] - v.from[0]) * k, v.from[1] + (v.to[1] - v.from[1]) * k];
}
