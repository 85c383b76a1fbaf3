import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OutputBank } from '../../agent/actuators/output-bank.js';
import { outputSchema } from '../../agent/config/sections/outputs.js';
import { silentLogger } from '../../agent/log.js';
import { MediaTime } from '../../agent/pipeline/media-time.js';

/**
 * A replay's clock (agent/pipeline/media-time.ts) with the real output safety core and the dry-run journal: a
 * file read far faster than real time still gets its pulses at their media times, each journaled with the
 * intended media time, and the minimum off-time judged in media time, not in how fast the frames were read.
 */
let dir: string;
let journal: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'media-time-'));
  journal = join(dir, 'outputs.jsonl');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

interface Line { ts: string; value: number; reason: string; due?: string; media?: number }
const read = (): Line[] => readFileSync(journal, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Line);

describe('MediaTime', () => {
  it('runs timers in media order as the clip advances, never going back', async () => {
    const m = new MediaTime(1_700_000_000_000);
    const seen: Array<[string, number]> = [];
    m.at(500, () => seen.push(['b', m.now()]));
    m.at(200, () => seen.push(['a', m.now()]));
    m.at(900, () => seen.push(['c', m.now()]));
    await m.advanceTo(600);
    expect(seen).toEqual([['a', 200], ['b', 500]]);
    expect(m.now()).toBe(600);
    await m.advanceTo(100); // a frame with an earlier time: media time never goes back
    expect(m.now()).toBe(600);
    expect(m.wall()).toBe(1_700_000_000_600);
    expect(m.wallOf(66.5)).toBe(1_700_000_000_066.5);
    expect(m.pending()).toBe(1);
    await m.drain();
    expect(seen.at(-1)).toEqual(['c', 900]);
    expect(m.pending()).toBe(0);
  });

  it('a timer set while advancing (a pulse switching on plans its off) runs in the same advance when due', async () => {
    const m = new MediaTime(0);
    const seen: number[] = [];
    m.at(100, () => {
      seen.push(m.now());
      m.at(m.now() + 50, () => seen.push(m.now()));
    });
    await m.advanceTo(1000);
    expect(seen).toEqual([100, 150]);
  });
});

describe('simulated outputs on media time', () => {
  it('two pulses 700 ms apart in the clip both fire, although both were requested within the same real millisecond', async () => {
    const m = new MediaTime(Date.parse('2026-01-01T00:00:00Z'));
    const b = new OutputBank({ gate: outputSchema.parse({ driver: { type: 'dry-run' }, maxOnMs: 300, minOffMs: 200 }) }, { clock: m, timers: m, simulateJournal: journal, log: silentLogger });
    await b.start();
    // Frames at media 1000 and 1700 ms, read back to back; each schedules its pulse 800 ms after its capture.
    await m.advanceTo(1000);
    const o1 = await b.pulse('gate', { dueMono: 1800, widthMs: 100, reason: 'part 1', mediaMs: 1800 });
    await m.advanceTo(1700);
    const o2 = await b.pulse('gate', { dueMono: 2500, widthMs: 100, reason: 'part 2', mediaMs: 2500 });
    expect([o1, o2].map((o) => o.status)).toEqual(['scheduled', 'scheduled']);
    // A third 150 ms after the second: within minOffMs of its end, in media time: refused as live would.
    const o3 = await b.pulse('gate', { dueMono: 2650, widthMs: 100, reason: 'part 3', mediaMs: 2650 });
    expect(o3.status).toBe('refused');
    await m.drain();
    await b.stop();
    const on = read().filter((l) => l.value === 1);
    expect(on.map((l) => [l.reason, l.media, l.ts, l.due])).toEqual([
      ['part 1', 1800, '2026-01-01T00:00:01.800Z', '2026-01-01T00:00:01.800Z'],
      ['part 2', 2500, '2026-01-01T00:00:02.500Z', '2026-01-01T00:00:02.500Z'],
    ]);
    const offs = read().filter((l) => l.value === 0 && l.reason.startsWith('part'));
    expect(offs.map((l) => [l.reason, l.media, l.due])).toEqual([
      ['part 1', 1900, '2026-01-01T00:00:01.900Z'],
      ['part 2', 2600, '2026-01-01T00:00:02.600Z'],
    ]);
  });
});
