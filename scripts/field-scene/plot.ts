/**
 * A PNG of a farm day: per zone a strip with soil moisture (line; the watering level dashed), the camera's
 * dry-soil score (grey line), the hours it needed water (pale red), rain (blue), the watering windows (pale
 * green) and the valve openings (dark blue bars). Drawn on a raster here and written as an 8-bit RGB PNG
 * (zlib from Node, CRC-32 as the outbox uses), so no plotting package is needed.
 */
import { writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { crc32 } from '../../agent/outbox/crc32.js';
import type { FieldTruth } from './truth.js';

export interface DayPlotInput {
  truth: FieldTruth;
  zoneNames: string[];
  /** Per zone, per frame: best dry-soil score in the zone (0..1). */
  cameraScores: number[][];
  openings: Array<{ frame: number; zone: string; durationS: number }>;
  inWindow: (frame: number) => boolean;
  belowPct: number;
}

type RGB = [number, number, number];

class Raster {
  readonly px: Uint8Array;
  constructor(
    readonly w: number,
    readonly h: number,
  ) {
    this.px = new Uint8Array(w * h * 3).fill(255);
  }
  set(x: number, y: number, c: RGB): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.w || y >= this.h) return;
    this.px.set(c, (y * this.w + x) * 3);
  }
  rect(x1: number, y1: number, x2: number, y2: number, c: RGB): void {
    for (let y = Math.floor(y1); y < y2; y++) for (let x = Math.floor(x1); x < x2; x++) this.set(x, y, c);
  }
  line(x1: number, y1: number, x2: number, y2: number, c: RGB): void {
    const n = Math.max(1, Math.ceil(Math.max(Math.abs(x2 - x1), Math.abs(y2 - y1))));
    for (let i = 0; i <= n; i++) this.set(x1 + ((x2 - x1) * i) / n, y1 + ((y2 - y1) * i) / n, c);
  }
}

function chunk(type: string, data: Uint8Array): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td) >>> 0);
  return Buffer.concat([len, td, crc]);
}

export function encodePng(r: Raster | { w: number; h: number; px: Uint8Array }): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(r.w, 0);
  ihdr.writeUInt32BE(r.h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  const rows = Buffer.alloc((r.w * 3 + 1) * r.h);
  for (let y = 0; y < r.h; y++) {
    rows[y * (r.w * 3 + 1)] = 0; // filter: none
    rows.set(r.px.subarray(y * r.w * 3, (y + 1) * r.w * 3), y * (r.w * 3 + 1) + 1);
  }
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([sig, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(rows)), chunk('IEND', new Uint8Array(0))]);
}

export function plotDay(file: string, p: DayPlotInput): void {
  const T = p.truth.frames;
  const fx = 3; // pixels per frame
  const left = 10;
  const stripH = 110;
  const gap = 12;
  const W = left * 2 + T * fx;
  const H = gap + p.zoneNames.length * (stripH + gap);
  const r = new Raster(W, H);
  const x = (t: number) => left + t * fx;
  p.truth.zones.forEach((z, i) => {
    const top = gap + i * (stripH + gap);
    const y = (v: number, max: number) => top + stripH - (v / max) * stripH;
    for (let t = 0; t < T; t++) {
      if (p.inWindow(t)) r.rect(x(t), top, x(t + 1), top + stripH, [228, 245, 228]);
      if (z.needsWater[t]) r.rect(x(t), top + stripH - 8, x(t + 1), top + stripH, [245, 180, 180]);
      if (p.truth.raining[t]) r.rect(x(t), top, x(t + 1), top + 6, [120, 160, 240]);
    }
    for (let t = 0; t < T; t += 12) r.line(x(t), top, x(t), top + stripH, [215, 215, 215]); // hours
    for (let xx = left; xx < x(T); xx += 6) r.line(xx, y(p.belowPct, 80), xx + 2, y(p.belowPct, 80), [200, 60, 60]);
    for (const o of p.openings.filter((o) => o.zone === p.zoneNames[i])) {
      const hgt = Math.max(6, (o.durationS / 300) * 40);
      r.rect(x(o.frame), top + stripH - 8 - hgt, x(o.frame) + fx, top + stripH - 8, [20, 40, 140]);
    }
    for (let t = 1; t < T; t++) {
      r.line(x(t - 1), y(p.cameraScores[i]![t - 1]! * 80, 80), x(t), y(p.cameraScores[i]![t]! * 80, 80), [150, 150, 150]);
      r.line(x(t - 1), y(z.moisture[t - 1]!, 80), x(t), y(z.moisture[t]!, 80), [140, 90, 30]);
      r.line(x(t - 1), y(z.moisture[t - 1]!, 80) + 1, x(t), y(z.moisture[t]!, 80) + 1, [140, 90, 30]);
    }
    r.line(left, top + stripH, x(T), top + stripH, [0, 0, 0]);
  });
  writeFileSync(file, encodePng(r));
}
