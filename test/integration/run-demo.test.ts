import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, runCli } from '../helpers/cli.js';
import { writeScene } from '../../scripts/demo-scene/index.js';

/**
 * The spine, end to end, as a user runs it: the real CLI, real ffmpeg decoding a generated conveyor clip,
 * the real ONNX model on ONNX Runtime, tracker, rules and the dry-run output journal. The clip comes from a
 * seed never used in training. No good part may get an event, no part more than one, every event gets one
 * reject pulse. The goal is every defective part caught; the current demo model misses chipped edges
 * (models/conveyor-demo/EVAL.md), so the test asks for at least three quarters of them until it is retrained.
 */
const SEED = 5151;
const modelReady = existsSync(join(repoRoot, 'models', 'conveyor-demo', 'manifest.json'));

interface Truth {
  fps: number;
  frames: number;
  parts: Array<{ id: number; defect: boolean; kind: string | null; frames: [number, number] }>;
}
interface FrameBoxes {
  frame: number;
  boxes: Array<{ id: number; x1: number; y1: number; x2: number; y2: number; defect: boolean; full: boolean }>;
}

describe.skipIf(!modelReady)('run: the conveyor demo end to end', () => {
  let dir: string;
  let truth: Truth;
  let boxes: FrameBoxes[];
  let events: Array<{ id: string; frame: { seq: number }; bbox: number[]; label: string; trackId: number; rule: string; actions: Array<{ type: string; status: string }>; model: { sha256: string } }>;
  let journal: Array<{ ts: string; output: string; value: number; reason: string }>;
  let stdout: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edge-agent-run-'));
    await writeScene(dir, { seed: SEED });
    truth = JSON.parse(readFileSync(join(dir, 'truth.json'), 'utf8')) as Truth;
    boxes = readFileSync(join(dir, 'boxes.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as FrameBoxes);
    const r = await runCli([
      'run', '--config', join(repoRoot, 'config', 'conveyor-demo.yaml'),
      '--source', join(dir, 'conveyor.mp4'), '--until-eof',
      '--events-out', join(dir, 'events.jsonl'), '--simulate-outputs', join(dir, 'outputs.jsonl'),
      '--state-dir', join(dir, 'state'),
    ]);
    expect(r.stderr.split('\n').filter((l) => l && !l.startsWith('{'))).toEqual([]);
    expect(r.code).toBe(0);
    stdout = r.stdout;
    events = existsSync(join(dir, 'events.jsonl')) ? readFileSync(join(dir, 'events.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
    journal = readFileSync(join(dir, 'outputs.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  }, 300_000);

  /** The part whose box holds the event's box centre in the event's frame. */
  function partOf(ev: (typeof events)[number]): number | undefined {
    const fb = boxes[ev.frame.seq]!;
    const cx = ((ev.bbox[0]! + ev.bbox[2]!) / 2) * 640;
    const cy = ((ev.bbox[1]! + ev.bbox[3]!) / 2) * 480;
    return fb.boxes.find((b) => cx >= b.x1 && cx <= b.x2 && cy >= b.y1 && cy <= b.y2)?.id;
  }

  it('processed every frame of the clip and said so', () => {
    expect(stdout).toMatch(new RegExp(`processed ${truth.frames} frames`));
    expect(truth.parts.some((p) => p.defect)).toBe(true);
    expect(truth.parts.some((p) => !p.defect)).toBe(true);
  });

  it('no good part gets an event, no part more than one, and most defective parts exactly one', () => {
    const perPart = new Map<number, number>();
    for (const ev of events) {
      const id = partOf(ev);
      expect(id, `event ${ev.id} at frame ${ev.frame.seq} matches no part`).toBeDefined();
      perPart.set(id!, (perPart.get(id!) ?? 0) + 1);
    }
    for (const p of truth.parts.filter((x) => !x.defect)) expect(perPart.get(p.id) ?? 0, `good part ${p.id}`).toBe(0);
    for (const p of truth.parts) expect(perPart.get(p.id) ?? 0, `part ${p.id} (${p.kind ?? 'good'})`).toBeLessThanOrEqual(1);
    const defective = truth.parts.filter((x) => x.defect);
    const caught = defective.filter((p) => perPart.get(p.id) === 1);
    const missed = defective.filter((p) => perPart.get(p.id) !== 1).map((p) => `${p.id}:${p.kind}`);
    expect(caught.length / defective.length, `missed ${missed.join(', ')}`).toBeGreaterThanOrEqual(0.75);
  });

  it('every event names the rule, the model file hash and a scheduled reject pulse', () => {
    const manifest = JSON.parse(readFileSync(join(repoRoot, 'models', 'conveyor-demo', 'manifest.json'), 'utf8')) as { variants: Array<{ sha256: string }> };
    for (const ev of events) {
      expect(ev.rule).toBe('defect');
      expect(ev.label).toBe('defect');
      expect(manifest.variants.map((v) => v.sha256)).toContain(ev.model.sha256);
      expect(ev.actions.find((a) => a.type === 'pulse')?.status).toBe('scheduled');
      expect(ev.bbox.every((v) => v >= 0 && v <= 1)).toBe(true);
    }
  });

  it('the output journal has one reject pulse per event, each for another part, and ends safe', () => {
    const ons = journal.filter((j) => j.output === 'reject_gate' && j.value === 1);
    expect(ons).toHaveLength(events.length);
    // Each pulse is for a different tracked part, and is followed by its off.
    const tracks = ons.map((j) => /track (\d+)/.exec(j.reason)?.[1]);
    expect(new Set(tracks).size).toBe(ons.length);
    expect(journal.at(-1)!.value).toBe(0);
    // The pulse lasts its configured width (100 ms), within timer resolution.
    for (const on of ons) {
      const off = journal.find((j) => j.value === 0 && j.reason === on.reason && j.ts >= on.ts);
      expect(off).toBeDefined();
      const width = Date.parse(off!.ts) - Date.parse(on.ts);
      expect(width).toBeGreaterThanOrEqual(95);
      expect(width).toBeLessThan(150);
    }
  });
});
