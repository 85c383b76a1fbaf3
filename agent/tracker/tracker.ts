import type { Detection, TrackedDetection } from '../types.js';
import { iou } from './iou.js';

export interface TrackerOptions {
  /** Minimum IoU between a track's predicted box and a detection to continue the track. */
  iou: number;
  /** A track not matched for this long (media time) ends. */
  maxAgeMs: number;
  /** Centre-distance fallback: match within this fraction of the box's longer side (0 disables). */
  centreGate: number;
}

interface Track {
  id: number;
  box: [number, number, number, number];
  /** Velocity of the box centre, normalised units per ms (constant-velocity prediction). */
  vx: number;
  vy: number;
  lastMs: number;
  hits: number;
}

/**
 * IoU tracker with constant-velocity prediction: one identity per physical object across frames, so that
 * a part on a conveyor gives one event and one actuation however many frames it is seen in.
 * Matching is greedy by IoU against each track's predicted box, then by centre distance, class-agnostic (a part whose label
 * flickers between "part" and "defect" stays one track). Times are media times (Frame.ptsMs).
 */
export class IouTracker {
  private tracks: Track[] = [];
  private nextId = 1;
  private endedIds: number[] = [];

  constructor(private readonly opts: TrackerOptions) {}

  update(dets: readonly Detection[], tMs: number): TrackedDetection[] {
    this.endedIds = [];
    const alive: Track[] = [];
    for (const t of this.tracks) {
      if (tMs - t.lastMs > this.opts.maxAgeMs) this.endedIds.push(t.id);
      else alive.push(t);
    }
    this.tracks = alive;

    const predicted = this.tracks.map((t) => predict(t, tMs));
    const pairs: Array<[number, number, number]> = [];
    for (let ti = 0; ti < this.tracks.length; ti++) {
      for (let di = 0; di < dets.length; di++) {
        const v = iou(predicted[ti]!, dets[di]!.box);
        if (v >= this.opts.iou) pairs.push([v, ti, di]);
      }
    }
    pairs.sort((a, b) => b[0] - a[0]);
    const trackUsed = new Uint8Array(this.tracks.length);
    const detTrack = new Int32Array(dets.length).fill(-1);
    for (const [, ti, di] of pairs) {
      if (trackUsed[ti] || detTrack[di] !== -1) continue;
      trackUsed[ti] = 1;
      detTrack[di] = ti;
    }
    // Second pass, by centre distance: an object that moved more than its overlap allows between two frames
    // (a dropped frame, a fast belt) is still the same object when it is close to where the track predicted
    // it and about the same size.
    const near: Array<[number, number, number]> = [];
    for (let ti = 0; ti < this.tracks.length; ti++) {
      if (trackUsed[ti]) continue;
      const p = predicted[ti]!;
      const side = Math.max(p[2] - p[0], p[3] - p[1]);
      for (let di = 0; di < dets.length; di++) {
        if (detTrack[di] !== -1) continue;
        const b = dets[di]!.box;
        const ratio = area(b) / Math.max(1e-12, area(p));
        if (ratio < 0.5 || ratio > 2) continue;
        const dist = Math.hypot((b[0] + b[2] - p[0] - p[2]) / 2, (b[1] + b[3] - p[1] - p[3]) / 2);
        if (dist <= this.opts.centreGate * side) near.push([dist, ti, di]);
      }
    }
    near.sort((a, b) => a[0] - b[0]);
    for (const [, ti, di] of near) {
      if (trackUsed[ti] || detTrack[di] !== -1) continue;
      trackUsed[ti] = 1;
      detTrack[di] = ti;
    }

    const out: TrackedDetection[] = [];
    for (let di = 0; di < dets.length; di++) {
      const d = dets[di]!;
      let t: Track;
      if (detTrack[di] !== -1) {
        t = this.tracks[detTrack[di]!]!;
        const dt = tMs - t.lastMs;
        if (dt > 0) {
          const [cx0, cy0] = centre(t.box);
          const [cx1, cy1] = centre(d.box);
          // Smoothed velocity: steady on a conveyor, robust to one jittery box.
          t.vx = t.hits > 1 ? 0.5 * t.vx + 0.5 * ((cx1 - cx0) / dt) : (cx1 - cx0) / dt;
          t.vy = t.hits > 1 ? 0.5 * t.vy + 0.5 * ((cy1 - cy0) / dt) : (cy1 - cy0) / dt;
        }
        t.box = [...d.box];
        t.lastMs = tMs;
        t.hits++;
      } else {
        t = { id: this.nextId++, box: [...d.box], vx: 0, vy: 0, lastMs: tMs, hits: 1 };
        this.tracks.push(t);
      }
      out.push({ ...d, trackId: t.id, hits: t.hits });
    }
    return out;
  }

  /** Ids of tracks that ended in the last update (their per-track rule state can be freed). */
  ended(): readonly number[] {
    return this.endedIds;
  }

  activeCount(): number {
    return this.tracks.length;
  }

  reset(): void {
    this.endedIds = this.tracks.map((t) => t.id);
    this.tracks = [];
  }
}

function area(b: readonly number[]): number {
  return Math.max(0, b[2]! - b[0]!) * Math.max(0, b[3]! - b[1]!);
}

function centre(b: readonly number[]): [number, number] {
  return [(b[0]! + b[2]!) / 2, (b[1]! + b[3]!) / 2];
}

function predict(t: Track, tMs: number): [number, number, number, number] {
  const dt = tMs - t.lastMs;
  const dx = t.vx * dt;
  const dy = t.vy * dt;
  return [t.box[0] + dx, t.box[1] + dy, t.box[2] + dx, t.box[3] + dy];
}
