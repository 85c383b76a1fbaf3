import type { Clock, Frame } from '../types.js';

export interface MotionGateConfig {
  enabled: boolean;
  /** Mean absolute grey difference (0..255) below which a frame counts as unchanged. */
  threshold: number;
  /** Infer at least this often even when nothing moves. */
  forceEveryMs: number;
}

export interface MotionGateOptions {
  /** Size of the grey thumbnail compared (default 80x60). */
  thumbWidth?: number;
  thumbHeight?: number;
  /**
   * Energy of one inference in joules, asked when stats are read (e.g. drivers/probe/power.ts
   * energyPerInferenceJ(boardClass, mean inference ms, model FLOPs)). Without it energy is not reported.
   */
  energyPerInferenceJ?: () => number | undefined;
}

export interface MotionStats {
  /** Frames the gate looked at. */
  frames: number;
  /** Frames let through to inference (changed, first, or forced). */
  inferred: number;
  /** Frames skipped because nothing changed. */
  skipped: number;
  /** Inferences forced by forceEveryMs although nothing changed. */
  forced: number;
  /** Difference of the last frame against the last inferred one (0..255). */
  lastDifference: number;
  /** skipped / frames. */
  skipRatio: number;
  /** skipped x energy per inference (E = P_static * t + P_dynamic * FLOPs), when the energy model is given. */
  energySavedJ: number | undefined;
}

export interface MotionGate {
  /** true: run inference on this frame; false: skip it (the scene has not changed). */
  (frame: Frame): boolean;
  stats(): MotionStats;
}

/**
 * Motion gating: skip inference while the scene does not change. Each frame is reduced to a small grey thumbnail
 * (the mean of each cell's pixels, so sensor noise averages out), compared by mean absolute difference with the thumbnail of the last INFERRED frame (not the previous
 * frame: a slow drift still adds up and triggers), and inference is forced every `forceEveryMs` regardless.
 * Disabled: every frame passes.
 */
export function createMotionGate(cfg: MotionGateConfig, clock: Clock, opts: MotionGateOptions = {}): MotionGate {
  const tw = opts.thumbWidth ?? 80;
  const th = opts.thumbHeight ?? 60;
  let ref: Uint8Array | null = null;
  let cur: Uint8Array = new Uint8Array(tw * th);
  let lastInferMono = -Infinity;
  const s = { frames: 0, inferred: 0, skipped: 0, forced: 0, lastDifference: 0 };

  const gate = ((frame: Frame): boolean => {
    s.frames++;
    if (!cfg.enabled) {
      s.inferred++;
      return true;
    }
    thumbnail(frame, tw, th, cur);
    const now = clock.now();
    const diff = ref ? meanAbsDiff(ref, cur) : Infinity;
    s.lastDifference = Number.isFinite(diff) ? diff : 0;
    const changed = diff >= cfg.threshold;
    const due = now - lastInferMono >= cfg.forceEveryMs;
    if (!changed && !due) {
      s.skipped++;
      return false;
    }
    if (!changed) s.forced++;
    s.inferred++;
    lastInferMono = now;
    // The inferred frame becomes the reference; swap buffers instead of copying.
    const old = ref;
    ref = cur;
    cur = old ?? new Uint8Array(tw * th);
    return true;
  }) as MotionGate;

  gate.stats = (): MotionStats => {
    const perJ = s.skipped && opts.energyPerInferenceJ ? opts.energyPerInferenceJ() : undefined;
    return {
      ...s,
      skipRatio: s.frames ? s.skipped / s.frames : 0,
      energySavedJ: opts.energyPerInferenceJ ? (perJ ?? 0) * s.skipped : undefined,
    };
  };
  return gate;
}

/** At most this many samples per thumbnail cell along each axis (every pixel of a cell up to 4x4). */
const MAX_SUB = 4;

/**
 * Grey thumbnail of an rgb24/bgr24/gbrp/gray frame: each cell is the mean luma of the pixels of its area (every
 * pixel for cells up to 4x4, an even 4x4 grid of them above), so per-pixel sensor noise averages out (16 samples
 * divide its spread by 4) while a moving object still shifts whole cells. Luma weights are Rec.601 (77/150/29
 * of 256). At most 77 k reads per frame (80x60 cells x 16), whatever the frame size.
 */
export function thumbnail(frame: Pick<Frame, 'data' | 'width' | 'height' | 'format'>, tw: number, th: number, out: Uint8Array): void {
  const { data, width, height, format } = frame;
  const planar = format === 'gbrp';
  const ch = format === 'gray' || planar ? 1 : 3;
  const [wr, wg, wb] = format === 'bgr24' ? [29, 150, 77] : [77, 150, 29];
  const row = width * ch;
  // gbrp: the G plane first, then B, then R (each width*height bytes).
  const pb = width * height;
  const pr = 2 * pb;
  for (let ty = 0; ty < th; ty++) {
    const y0 = Math.floor((ty * height) / th);
    const y1 = Math.max(y0 + 1, Math.floor(((ty + 1) * height) / th));
    const ys = Math.max(1, Math.floor((y1 - y0) / MAX_SUB));
    for (let tx = 0; tx < tw; tx++) {
      const x0 = Math.floor((tx * width) / tw);
      const x1 = Math.max(x0 + 1, Math.floor(((tx + 1) * width) / tw));
      const xs = Math.max(1, Math.floor((x1 - x0) / MAX_SUB));
      let sum = 0;
      let n = 0;
      for (let y = y0; y < y1; y += ys) {
        let i = y * row + x0 * ch;
        const step = xs * ch;
        for (let x = x0; x < x1; x += xs, i += step) {
          sum += planar ? (77 * data[pr + i]! + 150 * data[i]! + 29 * data[pb + i]!) >> 8 : ch === 1 ? data[i]! : (wr * data[i]! + wg * data[i + 1]! + wb * data[i + 2]!) >> 8;
          n++;
        }
      }
      out[ty * tw + tx] = Math.round(sum / n);
    }
  }
}

export function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    sum += d < 0 ? -d : d;
  }
  return sum / a.length;
}
