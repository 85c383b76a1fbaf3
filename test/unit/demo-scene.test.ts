import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { frameBoxes, generateScene, renderFrame, sceneTruth } from '../../scripts/demo-scene/index.js';

const hash = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('demo scene generator', () => {
  it('is deterministic: same seed, same truth and same pixels', () => {
    const a = generateScene({ seed: 42 });
    const b = generateScene({ seed: 42 });
    expect(sceneTruth(a)).toEqual(sceneTruth(b));
    expect(hash(renderFrame(a, 0))).toBe(hash(renderFrame(b, 0)));
    expect(hash(renderFrame(a, 77))).toBe(hash(renderFrame(b, 77)));
  });

  it('gives different scenes for different seeds', () => {
    const a = generateScene({ seed: 1 });
    const b = generateScene({ seed: 2 });
    expect(hash(renderFrame(a, 0))).not.toBe(hash(renderFrame(b, 0)));
    const sig = (s: ReturnType<typeof generateScene>) => s.parts.map((p) => `${p.kind}:${p.defect}`).join(',');
    expect(sig(a)).not.toBe(sig(b));
  });

  it('frames move: consecutive frames differ', () => {
    const s = generateScene({ seed: 5 });
    expect(hash(renderFrame(s, 10))).not.toBe(hash(renderFrame(s, 11)));
  });

  it('has 12 parts by default, about a third defective, every defect kind used across seeds', () => {
    const kinds = new Set<string>();
    let parts = 0;
    let defects = 0;
    for (let seed = 1; seed <= 6; seed++) {
      const t = sceneTruth(generateScene({ seed }));
      expect(t.parts).toHaveLength(12);
      parts += t.parts.length;
      for (const p of t.parts) {
        if (p.defect) {
          defects++;
          kinds.add(p.kind!);
        } else expect(p.kind).toBeNull();
      }
    }
    expect(defects / parts).toBeGreaterThanOrEqual(0.28);
    expect(defects / parts).toBeLessThanOrEqual(0.42);
    expect([...kinds].sort()).toEqual(['chip', 'crack', 'missing-hole', 'stain']);
  });

  it('truth ranges agree with the per-frame boxes, parts never overlap, 1-3 visible at once', () => {
    const scene = generateScene({ seed: 9 });
    const truth = sceneTruth(scene);
    const full = new Map<number, number[]>();
    for (let t = 0; t < scene.frames; t++) {
      const { boxes } = frameBoxes(scene, t);
      expect(boxes.length).toBeLessThanOrEqual(3);
      if (t > 0 && t < scene.frames - 1) expect(boxes.length).toBeGreaterThanOrEqual(1);
      for (const b of boxes) {
        expect(b.x1).toBeGreaterThanOrEqual(0);
        expect(b.x2).toBeLessThanOrEqual(640);
        expect(b.y1).toBeGreaterThanOrEqual(64);
        expect(b.y2).toBeLessThanOrEqual(416);
        const w = b.x2 - b.x1;
        if (b.full) {
          expect(w).toBeGreaterThanOrEqual(60);
          expect(w).toBeLessThanOrEqual(190);
          full.set(b.id, [...(full.get(b.id) ?? []), t]);
        }
      }
      for (let i = 0; i < boxes.length; i++) {
        for (let j = i + 1; j < boxes.length; j++) {
          const [p, q] = [boxes[i]!, boxes[j]!];
          expect(p.x2 <= q.x1 || q.x2 <= p.x1).toBe(true);
        }
      }
    }
    for (const p of truth.parts) {
      const frames = full.get(p.id)!;
      expect(frames[0]).toBe(p.frames[0]);
      expect(frames[frames.length - 1]).toBe(p.frames[1]);
      expect(frames).toHaveLength(p.frames[1] - p.frames[0] + 1);
      expect(p.defect).toBe(scene.parts[p.id]!.defect !== null);
    }
  });

  it('draws the parts where the boxes say: part pixels differ from the empty belt', () => {
    const scene = generateScene({ seed: 3 });
    const t = sceneTruth(scene).parts[1]!.frames[0];
    const img = renderFrame(scene, t);
    const box = frameBoxes(scene, t).boxes.find((b) => b.id === 1)!;
    const grey = (x: number, y: number) => (img[(y * 640 + x) * 3]! + img[(y * 640 + x) * 3 + 1]! + img[(y * 640 + x) * 3 + 2]!) / 3;
    // Belt level: the strip just above the box. Metal parts are much brighter than the rubber belt.
    const strip: number[] = [];
    for (let x = box.x1; x < box.x2; x++) strip.push(grey(x, Math.max(64, box.y1 - 4)));
    const belt = strip.sort((p, q) => p - q)[strip.length >> 1]!;
    const brightShare = (x1: number, y1: number, x2: number, y2: number) => {
      let n = 0;
      for (let y = y1; y < y2; y++) for (let x = x1; x < x2; x++) if (grey(x, y) > belt + 35) n++;
      return n / ((x2 - x1) * (y2 - y1));
    };
    expect(brightShare(box.x1, box.y1, box.x2, box.y2)).toBeGreaterThan(0.15);
    // The same-sized belt area right of the box (no part there at this frame) has hardly any such pixels.
    const w = box.x2 - box.x1;
    const others = frameBoxes(scene, t).boxes.filter((b) => b.id !== 1);
    const rx1 = box.x2 + 20;
    expect(others.every((o) => o.x1 >= rx1 + w || o.x2 <= rx1)).toBe(true);
    expect(brightShare(rx1, box.y1, rx1 + w, box.y2)).toBeLessThan(0.02);
  });

  it('--seconds fixes the clip length', () => {
    expect(generateScene({ seed: 1, seconds: 2 }).frames).toBe(30);
    const t = sceneTruth(generateScene({ seed: 1, seconds: 2 }));
    for (const p of t.parts) expect(p.frames[1]).toBeLessThan(30);
  });
});
