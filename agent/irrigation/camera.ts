/**
 * What the camera says about each zone: the best score, among a zone's "needs water" labels at or above their
 * minimum, of the detections inside the zone's area. A visitor (person, bird, a tractor's shadow) carries none of
 * those labels, so it cannot make a zone look thirsty, whatever it covers.
 */
import { boxInZone } from '../rules/zone.js';
import type { IrrigationZoneConfig } from './config.js';

export interface CameraDetection {
  label: string;
  score: number;
  /** Normalised [x1, y1, x2, y2]. */
  box: [number, number, number, number];
}

export interface CameraVerdict {
  /** Best qualifying score, 0 when none. */
  score: number;
  label: string | undefined;
  hit: boolean;
}

export function cameraVerdict(zone: IrrigationZoneConfig, detections: readonly CameraDetection[]): CameraVerdict {
  let best: CameraVerdict = { score: 0, label: undefined, hit: false };
  for (const d of detections) {
    const min = zone.camera.labels[d.label];
    if (min === undefined || d.score < min || d.score <= best.score) continue;
    if (!boxInZone(d.box, zone.area)) continue;
    best = { score: d.score, label: d.label, hit: true };
  }
  return best;
}
