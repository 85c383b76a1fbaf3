/**
 * Scores an agent run on a demo scene against the scene's truth: which physical part each event was about (the
 * part whose box holds the event box's centre in the event's frame), and per part how many events it got.
 * Used by `edge-agent demo` to say how the run went, and by the end-to-end test to check it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FrameBoxes, SceneTruth } from './scene.js';

export interface ScoredEvent {
  frame: { seq: number };
  bbox: number[];
}

export interface SceneScore {
  /** Events per part id (parts with none are absent). */
  perPart: Map<number, number>;
  /** Events whose box centre is on no part. */
  unmatched: number;
  defective: number;
  /** Defective parts with exactly one event. */
  caught: number;
  /** Defective parts with none, as "id:kind". */
  missed: string[];
  /** Good parts with at least one event, as ids. */
  falseRejects: number[];
  /** Parts with more than one event, as ids. */
  repeated: number[];
}

export function loadSceneTruth(dir: string): { truth: SceneTruth; boxes: FrameBoxes[] } {
  const truth = JSON.parse(readFileSync(join(dir, 'truth.json'), 'utf8')) as SceneTruth;
  const boxes = readFileSync(join(dir, 'boxes.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as FrameBoxes);
  return { truth, boxes };
}

/** The part an event was about, or undefined. */
export function partOfEvent(ev: ScoredEvent, truth: SceneTruth, boxes: FrameBoxes[]): number | undefined {
  // boxes.jsonl lines carry their frame number (time-lapse clips skip frames), so look it up rather than index.
  const fb = boxes.find((b) => b.frame === ev.frame.seq);
  if (!fb) return undefined;
  const cx = ((ev.bbox[0]! + ev.bbox[2]!) / 2) * truth.width;
  const cy = ((ev.bbox[1]! + ev.bbox[3]!) / 2) * truth.height;
  return fb.boxes.find((b) => cx >= b.x1 && cx <= b.x2 && cy >= b.y1 && cy <= b.y2)?.id;
}

export function scoreEvents(events: ScoredEvent[], truth: SceneTruth, boxes: FrameBoxes[]): SceneScore {
  const perPart = new Map<number, number>();
  let unmatched = 0;
  for (const ev of events) {
    const id = partOfEvent(ev, truth, boxes);
    if (id === undefined) unmatched++;
    else perPart.set(id, (perPart.get(id) ?? 0) + 1);
  }
  const defective = truth.parts.filter((p) => p.defect);
  return {
    perPart,
    unmatched,
    defective: defective.length,
    caught: defective.filter((p) => perPart.get(p.id) === 1).length,
    missed: defective.filter((p) => !perPart.get(p.id)).map((p) => `${p.id}:${p.kind}`),
    falseRejects: truth.parts.filter((p) => !p.defect && perPart.get(p.id)).map((p) => p.id),
    repeated: truth.parts.filter((p) => (perPart.get(p.id) ?? 0) > 1).map((p) => p.id),
  };
}
