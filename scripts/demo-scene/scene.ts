/**
 * Scene layout: which parts ride the belt, where, how fast, which are defective, and the ground truth
 * (per-part fully-visible frame ranges, per-frame boxes) derived from exactly what is drawn.
 */
import { DEFECT_KINDS, PART_KINDS, type DefectKind, type PartKind, applyDefect, baseGeometry } from './shapes.js';
import { type SceneLook, makeLook } from './look.js';
import { type Sprite, rasterisePart } from './sprite.js';
import { intBetween, mixSeed, mulberry32, pick, shuffle, uniform } from './prng.js';

export const SCENE_WIDTH = 640;
export const SCENE_HEIGHT = 480;
export const SCENE_FPS = 15;
export const DEFAULT_PARTS = 12;

export interface SceneOptions {
  seed: number;
  /** Number of parts on the belt (default 12). */
  parts?: number;
  /** Clip length in seconds; default: until the last part has left the frame. */
  seconds?: number;
}

export interface ScenePart {
  id: number;
  kind: PartKind;
  defect: DefectKind | null;
  size: number;
  sprite: Sprite;
  /** Sprite top-left at frame 0 (screen pixels); x advances by scene.speed per frame. */
  x0: number;
  y0: number;
}

export interface Scene {
  seed: number;
  width: number;
  height: number;
  fps: number;
  frames: number;
  /** Belt speed, whole pixels per frame. */
  speed: number;
  parts: ScenePart[];
  look: SceneLook;
}

export interface TruthPart {
  id: number;
  defect: boolean;
  kind: DefectKind | null;
  /** Part kind (washer, plate...), extra information for training. */
  shape: PartKind;
  /** First and last 0-based frame in which the part is fully visible. */
  frames: [number, number];
}

/**
 * Bumped whenever the same seed would render different pixels or truth (geometry, defects, encoding), so that a
 * clip cached by an older version is made again. 2: larger chips, crf 23.
 */
export const SCENE_GENERATOR_VERSION = 2;

export interface SceneTruth {
  /** SCENE_GENERATOR_VERSION of the generator that wrote it. */
  generator: number;
  width: number;
  height: number;
  fps: number;
  frames: number;
  seed: number;
  parts: TruthPart[];
}

export interface FrameBox {
  id: number;
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  defect: boolean;
  full: boolean;
}

export interface FrameBoxes {
  frame: number;
  boxes: FrameBox[];
}

const PALETTE: Array<[number, number, number]> = [
  [165, 170, 178], // bright steel
  [128, 134, 145], // dark steel
  [196, 166, 92], // brass
  [205, 205, 195], // zinc
  [100, 135, 195], // blue anodised
  [192, 124, 84], // copper
];

export function generateScene(opts: SceneOptions): Scene {
  const { seed } = opts;
  const count = opts.parts ?? DEFAULT_PARTS;
  const width = SCENE_WIDTH;
  const height = SCENE_HEIGHT;
  const rng = mulberry32(mixSeed(seed, 1));
  const look = makeLook(width, height, mulberry32(mixSeed(seed, 2)));
  const speed = intBetween(rng, 9, 13);

  // About a third of the parts are defective, with the defect kinds spread evenly.
  const nDefect = count < 2 ? 0 : Math.max(1, Math.round(count * uniform(rng, 0.3, 0.4)));
  const defective = new Set(shuffle(rng, [...Array(count).keys()]).slice(0, nDefect));
  const kinds = shuffle(rng, [...DEFECT_KINDS]);
  let nextDefect = 0;

  const parts: ScenePart[] = [];
  let prevLeft = 0;
  const lefts: number[] = [];
  for (let id = 0; id < count; id++) {
    const prng = mulberry32(mixSeed(seed, 100 + id));
    const kind = pick(prng, PART_KINDS);
    const size = uniform(prng, 90, 150);
    const geometry = baseGeometry(kind, size, prng);
    const defect = defective.has(id) ? kinds[nextDefect++ % kinds.length]! : null;
    if (defect) applyDefect(geometry, defect, size, prng);
    const base = pick(prng, PALETTE);
    const jitter = uniform(prng, 0.92, 1.08);
    const sprite = rasterisePart(
      geometry,
      size,
      { angle: uniform(prng, 0, Math.PI * 2), color: [base[0] * jitter, base[1] * jitter, base[2] * jitter], light: look.lightDir },
      prng,
    );
    const bw = sprite.box.x2 - sprite.box.x1;
    // Parts enter from the left one after another: part 0 is already half in at frame 0. The gap keeps them
    // apart, and part i never shares the frame with part i-3 (at most 3 visible at once).
    let left: number;
    if (id === 0) left = -Math.round(bw * 0.6);
    else {
      let right = prevLeft - intBetween(prng, 50, 230);
      if (id >= 3) right = Math.min(right, lefts[id - 3]! - width - 1);
      left = right - bw;
    }
    lefts.push(left);
    prevLeft = left;
    const y0 = intBetween(prng, look.beltTop + 6 - sprite.box.y1, look.beltBottom - 6 - sprite.box.y2);
    parts.push({ id, kind, defect, size, sprite, x0: left - sprite.box.x1, y0 });
  }
  const lastLeft = lefts.length ? lefts[lefts.length - 1]! : 0;
  const naturalFrames = Math.max(1, Math.ceil((width - lastLeft) / speed));
  const frames = opts.seconds !== undefined ? Math.max(1, Math.round(opts.seconds * SCENE_FPS)) : naturalFrames;
  return { seed, width, height, fps: SCENE_FPS, frames, speed, parts, look };
}

/** Screen box of a part at frame t (unclipped, x2/y2 exclusive). */
export function partBox(scene: Scene, p: ScenePart, t: number): { x1: number; y1: number; x2: number; y2: number } {
  const dx = p.x0 + scene.speed * t;
  const b = p.sprite.box;
  return { x1: dx + b.x1, y1: p.y0 + b.y1, x2: dx + b.x2, y2: p.y0 + b.y2 };
}

/** Frames [first, last] in which the part is fully inside the picture, or undefined if never. */
export function fullyVisibleRange(scene: Scene, p: ScenePart): [number, number] | undefined {
  const b = partBox(scene, p, 0);
  const first = Math.max(0, Math.ceil(-b.x1 / scene.speed));
  const last = Math.min(scene.frames - 1, Math.floor((scene.width - b.x2) / scene.speed));
  return first <= last ? [first, last] : undefined;
}

export function sceneTruth(scene: Scene): SceneTruth {
  const parts: TruthPart[] = [];
  for (const p of scene.parts) {
    const range = fullyVisibleRange(scene, p);
    if (!range) continue;
    parts.push({ id: p.id, defect: p.defect !== null, kind: p.defect, shape: p.kind, frames: range });
  }
  return { generator: SCENE_GENERATOR_VERSION, width: scene.width, height: scene.height, fps: scene.fps, frames: scene.frames, seed: scene.seed, parts };
}

/** Boxes of every part at least partly in frame t, clipped to the picture; full = entirely inside. */
export function frameBoxes(scene: Scene, t: number): FrameBoxes {
  const boxes: FrameBox[] = [];
  for (const p of scene.parts) {
    const b = partBox(scene, p, t);
    if (b.x2 <= 0 || b.x1 >= scene.width) continue;
    const full = b.x1 >= 0 && b.x2 <= scene.width;
    boxes.push({
      id: p.id,
      x1: Math.max(0, b.x1),
      y1: b.y1,
      x2: Math.min(scene.width, b.x2),
      y2: b.y2,
      defect: p.defect !== null,
      full,
    });
  }
  return { frame: t, boxes };
}
