import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FIELD_HEIGHT, FIELD_WIDTH, fieldTruth, generateField, lightPhase, renderField, writeField } from '../../scripts/field-scene/index.js';

const repo = resolve(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'field-scene-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Mean colour of a box of a frame. */
function mean(px: Uint8Array, box: [number, number, number, number]): [number, number, number] {
  const s = [0, 0, 0];
  let n = 0;
  for (let y = box[1]; y < box[3]; y++) {
    for (let x = box[0]; x < box[2]; x++) {
      for (let c = 0; c < 3; c++) s[c] += px[(y * FIELD_WIDTH + x) * 3 + c]!;
      n++;
    }
  }
  return s.map((v) => v / n) as [number, number, number];
}

/** Pixels in a box that are clearly leaf green (g well above r and b). */
function greenCount(px: Uint8Array, box: [number, number, number, number]): number {
  let n = 0;
  for (let y = box[1]; y < box[3]; y++) {
    for (let x = box[0]; x < box[2]; x++) {
      const i = (y * FIELD_WIDTH + x) * 3;
      if (px[i + 1]! > px[i]! + 30 && px[i + 1]! > px[i + 2]! + 30) n++;
    }
  }
  return n;
}

describe('field scene', () => {
  it('is deterministic from the seed and differs between seeds', () => {
    const a = generateField({ seed: 3, hours: 6 });
    const b = generateField({ seed: 3, hours: 6 });
    const c = generateField({ seed: 4, hours: 6 });
    expect(Buffer.from(renderField(a, 40)).equals(Buffer.from(renderField(b, 40)))).toBe(true);
    expect(JSON.stringify(fieldTruth(a))).toBe(JSON.stringify(fieldTruth(b)));
    expect(Buffer.from(renderField(a, 40)).equals(Buffer.from(renderField(c, 40)))).toBe(false);
  });

  it('truth: needs water exactly when the soil is below the threshold and it is not raining', () => {
    for (const seed of [1, 2, 3, 5, 8]) {
      const t = fieldTruth(generateField({ seed }));
      expect(t.frames).toBe(288);
      for (const z of t.zones) {
        z.moisture.forEach((m, i) => {
          expect(z.drySoil[i]).toBe(m < t.needsWaterBelow ? 1 : 0);
          expect(z.needsWater[i]).toBe(z.drySoil[i] && !t.raining[i] ? 1 : 0);
        });
        // A sensor publishes every frame except in its gaps.
        const frames = new Set(t.readings[z.sensor]!.map(([f]) => f));
        for (let f = 0; f < t.frames; f++) expect(frames.has(f)).toBe(!z.sensorGaps.some(([a, b]) => f >= a && f <= b));
      }
      expect(t.readings.rain).toHaveLength(t.frames);
    }
  });

  it('across seeds there are zones that need water, zones that never do, rain, sensor gaps and all visitors', () => {
    const ts = [1, 2, 3, 4, 5, 6, 7, 8].map((seed) => fieldTruth(generateField({ seed })));
    const zones = ts.flatMap((t) => t.zones);
    expect(zones.some((z) => z.needsWater.some(Boolean))).toBe(true);
    expect(zones.some((z) => !z.needsWater.some(Boolean))).toBe(true);
    expect(ts.some((t) => t.raining.some(Boolean))).toBe(true);
    expect(zones.some((z) => z.sensorGaps.length > 0)).toBe(true);
    expect(zones.some((z) => z.wateredAt.length > 0)).toBe(true);
    expect(new Set(ts.flatMap((t) => t.visitors.map((v) => v.kind)))).toEqual(new Set(['person', 'bird', 'tractor-shadow']));
    expect(new Set(ts[0]!.light)).toEqual(new Set(['night', 'dawn', 'day', 'noon', 'dusk']));
  });

  it('draws what the truth says: wet soil darker, wilted zones with less leaf green, grey infrared nights', () => {
    const scene = generateField({ seed: 7 });
    const truth = fieldTruth(scene);
    const t = 9 * 12; // 09:00, daylight
    expect(lightPhase(t * 5)).toBe('day');
    const px = renderField(scene, t);
    const z = truth.zones.map((zone, i) => ({ zone, box: scene.zones[i]!.box }));
    const wettest = [...z].sort((a, b) => b.zone.moisture[t]! - a.zone.moisture[t]!)[0]!;
    const driest = [...z].sort((a, b) => a.zone.moisture[t]! - b.zone.moisture[t]!)[0]!;
    expect(wettest.zone.moisture[t]! - driest.zone.moisture[t]!).toBeGreaterThan(10);
    const lum = (c: [number, number, number]) => c[0] + c[1] + c[2];
    // Soil between plants: a strip along the bed's top edge.
    const strip = (b: [number, number, number, number]): [number, number, number, number] => [b[0] + 1, b[1] + 1, b[2] - 1, b[1] + 3];
    expect(lum(mean(px, strip(wettest.box)))).toBeLessThan(lum(mean(px, strip(driest.box))));
    // Seed 7's zone-1 is wilted by the afternoon while zone-4 is not.
    const pm = 16 * 12;
    expect(truth.zones[0]!.wilted[pm]).toBe(1);
    expect(truth.zones[3]!.wilted[pm]).toBe(0);
    const pmPx = renderField(scene, pm);
    expect(greenCount(pmPx, scene.zones[0]!.box)).toBeLessThan(greenCount(pmPx, scene.zones[3]!.box) / 3);
    // 01:00: an infrared frame, grey.
    const night = renderField(scene, 12);
    for (let i = 0; i < night.length; i += 3 * 97) {
      expect(night[i]).toBe(night[i + 1]);
      expect(night[i + 1]).toBe(night[i + 2]);
    }
  });
});

describe('writeField and make-field-scene (real ffmpeg)', () => {
  it('writes an H.264 clip with one frame per 5 minutes and truth.json', async () => {
    const out = join(work, 's11');
    const res = await writeField(out, { seed: 11, hours: 2 });
    const probe = execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,width,height,nb_read_frames', '-of', 'json', res.video]).toString();
    expect(JSON.parse(probe).streams[0]).toMatchObject({ codec_name: 'h264', width: FIELD_WIDTH, height: FIELD_HEIGHT, nb_read_frames: '24' });
    const truth = JSON.parse(readFileSync(res.truth, 'utf8'));
    expect(truth).toMatchObject({ frames: 24, minutesPerFrame: 5, seed: 11 });
    expect(readdirSync(out).sort()).toEqual(['field.mp4', 'truth.json']);
  });

  it('the CLI refuses a bad --hours with one line and exit 64', () => {
    const r = spawnSync(process.execPath, [join(repo, 'dist', 'scripts', 'make-field-scene.js'), '--seed', '1', '--out', join(work, 'x'), '--hours', '0'], { encoding: 'utf8' });
    expect(r.status).toBe(64);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/--hours must be a number from 1 to 168/);
  });
});
