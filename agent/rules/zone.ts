import type { z } from 'zod';
import type { zoneSchema } from '../config/sections/rules.js';

export type Zone = z.infer<typeof zoneSchema>;

/** Even-odd ray casting; points on an edge may fall either way, which is fine for detection boxes. */
export function pointInPolygon(x: number, y: number, poly: ReadonlyArray<readonly [number, number]>): boolean {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i]!;
    const [xj, yj] = poly[j]!;
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** Whether a normalised box satisfies a zone: its centre inside, or (test "box") all four corners inside. */
export function boxInZone(box: readonly number[], zone: Zone | undefined): boolean {
  if (!zone) return true;
  const [x1, y1, x2, y2] = box as [number, number, number, number];
  if (zone.test === 'center') return pointInPolygon((x1 + x2) / 2, (y1 + y2) / 2, zone.polygon);
  return (
    pointInPolygon(x1, y1, zone.polygon) &&
    pointInPolygon(x2, y1, zone.polygon) &&
    pointInPolygon(x1, y2, zone.polygon) &&
    pointInPolygon(x2, y2, zone.polygon)
  );
}

/** Rejects self-intersecting polygons, which have no clear inside. Returns a message or undefined. */
export function polygonProblem(poly: ReadonlyArray<readonly [number, number]>): string | undefined {
  const n = poly.length;
  for (let i = 0; i < n; i++) {
    const a = poly[i]!;
    const b = poly[(i + 1) % n]!;
    for (let j = i + 1; j < n; j++) {
      if (Math.abs(i - j) <= 1 || (i === 0 && j === n - 1)) continue;
      const c = poly[j]!;
      const d = poly[(j + 1) % n]!;
      if (segmentsCross(a, b, c, d)) return `edges ${i}-${(i + 1) % n} and ${j}-${(j + 1) % n} cross: list the points in order around the zone`;
    }
  }
  let area = 0;
  for (let i = 0; i < n; i++) {
    const [x1, y1] = poly[i]!;
    const [x2, y2] = poly[(i + 1) % n]!;
    area += x1 * y2 - x2 * y1;
  }
  if (Math.abs(area) < 1e-9) return 'the polygon has no area (all points on one line)';
  return undefined;
}

function orient(p: readonly [number, number], q: readonly [number, number], r: readonly [number, number]): number {
  return Math.sign((q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0]));
}

function segmentsCross(a: readonly [number, number], b: readonly [number, number], c: readonly [number, number], d: readonly [number, number]): boolean {
  const o1 = orient(a, b, c);
  const o2 = orient(a, b, d);
  const o3 = orient(c, d, a);
  const o4 = orient(c, d, b);
  return o1 !== 0 && o2 !== 0 && o3 !== 0 && o4 !== 0 && o1 !== o2 && o3 !== o4;
}
