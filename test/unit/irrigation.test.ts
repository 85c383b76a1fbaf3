import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OutputBank } from '../../agent/actuators/output-bank.js';
import { outputSchema, type OutputConfig } from '../../agent/config/sections/outputs.js';
import { silentLogger } from '../../agent/log.js';
import { IrrigationController, irrigationSchema, localTime, type CameraDetection, type IrrigationConfig } from '../../agent/irrigation/index.js';
import { SensorStore } from '../../agent/sensors/store.js';
import { FakeClock } from '../fixtures/gpio/fake-clock.js';

const repo = resolve(import.meta.dirname, '..', '..');
const TZ = 'Europe/Berlin';
let dir: string;
let journal: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'irrigation-'));
  journal = join(dir, 'journal.jsonl');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const valve = (o: Record<string, unknown> = {}): OutputConfig => outputSchema.parse({ driver: { type: 'dry-run' }, maxOnMs: 600_000, ...o });
/** Quadrants of the picture: zone a top-left, b top-right, c bottom-left. */
const area = (x: number, y: number) => ({ polygon: [[x, y], [x + 0.5, y], [x + 0.5, y + 0.5], [x, y + 0.5]] });
const wilted = (x: number, y: number, score = 0.9): CameraDetection => ({ label: 'wilted', score, box: [x + 0.1, y + 0.1, x + 0.3, y + 0.3] });

function farm(extra: Record<string, unknown> = {}, zoneExtra: Record<string, unknown> = {}): IrrigationConfig {
  const zone = (v: string, x: number, y: number, sensor: string) => ({ valve: v, area: area(x, y), sensor, maxOnS: 300, camera: { frames: 1 }, ...zoneExtra });
  return irrigationSchema.parse({
    timeZone: TZ,
    maxOpen: 2,
    zones: { a: zone('valve-a', 0, 0, 'soil-a'), b: zone('valve-b', 0.5, 0, 'soil-b'), c: zone('valve-c', 0, 0.5, 'soil-c') },
    ...extra,
  });
}

interface Rig {
  clock: FakeClock;
  store: SensorStore;
  bank: OutputBank;
  ctl: IrrigationController;
}

async function rig(cfg: IrrigationConfig, wallAtZero: number, opts: { ledger?: boolean; clock?: FakeClock } = {}): Promise<Rig> {
  const clock = opts.clock ?? new FakeClock(wallAtZero);
  const store = new SensorStore({ maxAgeMs: 15 * 60_000, now: () => clock.wall() });
  const outputs = { 'valve-a': valve(), 'valve-b': valve(), 'valve-c': valve() };
  const bank = new OutputBank(outputs, { clock, timers: clock, simulateJournal: journal, log: silentLogger, ledgerDir: join(dir, 'outputs') });
  await bank.start();
  const ctl = new IrrigationController(cfg, { store, valves: bank, now: () => clock.wall(), ledgerFile: opts.ledger === false ? undefined : join(dir, 'irrigation.json') });
  ctl.start();
  return { clock, store, bank, ctl };
}

/** Journal as [output, value] in order. */
function journalLines(): Array<[string, number]> {
  return readFileSync(journal, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { output: string; value: number })
    .map((e) => [e.output, e.value]);
}

describe('irrigation decisions (fake clock, real OutputBank with dry-run outputs)', () => {
  it('waters a wilted zone whose soil is dry, for the deficit; not a wet one; not in the rain', async () => {
    const cfg = farm({ rain: { sensor: 'rain', above: 0 } });
    const r = await rig(cfg, Date.parse('2026-06-15T04:00:00Z')); // 06:00 in Berlin (CEST)
    r.store.update('soil-a', 20); // target 45 -> 25 points x 6 s = 150 s
    r.store.update('soil-b', 40); // not below 30
    r.store.update('rain', 0);
    const d = await r.ctl.step([wilted(0, 0), wilted(0.5, 0), wilted(0.1, 0.6, 0.3)]);
    expect(d.map((x) => [x.zone, x.action, x.durationS ?? x.reason])).toEqual([
      ['b', 'skip', 'soil 40% is not below 30%'],
      ['a', 'open', 150],
    ]);
    expect(d[1]!.reason).toBe('camera wilted 0.9, soil-a 20%');
    await r.clock.advance(150_000);
    expect(journalLines().filter(([o]) => o === 'valve-a')).toEqual([['valve-a', 0], ['valve-a', 1], ['valve-a', 0]]);
    r.store.update('soil-c', 10);
    r.store.update('rain', 0.4);
    const rain = await r.ctl.step([wilted(0, 0.5)]);
    expect(rain.map((x) => [x.zone, x.action, x.reason])).toEqual([['c', 'skip', 'raining (rain 0.4)']]);
    await r.bank.stop();
  });

  it('a person, a bird or a tractor shadow in a zone triggers nothing', async () => {
    const r = await rig(farm(), Date.parse('2026-06-15T04:00:00Z'));
    r.store.update('soil-a', 5);
    const visitors: CameraDetection[] = [
      { label: 'person', score: 0.99, box: [0.1, 0.1, 0.3, 0.4] },
      { label: 'bird', score: 0.95, box: [0.2, 0.2, 0.25, 0.25] },
      { label: 'shadow', score: 0.9, box: [0, 0, 0.5, 0.5] },
    ];
    for (let i = 0; i < 10; i++) expect(await r.ctl.step(visitors)).toEqual([]);
    await r.bank.stop();
  });

  it('needs the camera to agree N frames in a row', async () => {
    const r = await rig(farm({}, { camera: { frames: 3 } }), Date.parse('2026-06-15T04:00:00Z'));
    r.store.update('soil-a', 20);
    expect(await r.ctl.step([wilted(0, 0)])).toEqual([]);
    expect(await r.ctl.step([])).toEqual([]);
    expect(await r.ctl.step([wilted(0, 0)])).toEqual([]);
    expect(await r.ctl.step([wilted(0, 0)])).toEqual([]);
    expect((await r.ctl.step([wilted(0, 0)])).map((x) => x.action)).toEqual(['open']);
    await r.bank.stop();
  });

  it('at most maxOpen valves at once, driest first; the next one opens when one closes', async () => {
    const r = await rig(farm(), Date.parse('2026-06-15T04:00:00Z'));
    r.store.update('soil-a', 25); // 120 s
    r.store.update('soil-b', 15); // 180 s
    r.store.update('soil-c', 20); // 150 s
    const all = [wilted(0, 0), wilted(0.5, 0), wilted(0, 0.5)];
    const first = await r.ctl.step(all);
    expect(first.map((x) => [x.zone, x.action, x.durationS ?? x.reason])).toEqual([
      ['b', 'open', 180],
      ['c', 'open', 150],
      ['a', 'skip', 'pump limit: 2 of 2 valves open'],
    ]);
    await r.clock.advance(150_000);
    r.store.update('soil-c', 44); // zone c had its water
    const second = await r.ctl.step(all);
    expect(second.map((x) => [x.zone, x.action])).toEqual([['c', 'skip'], ['a', 'open']]);
    // Never more than two valves on at once in the journal.
    let on = 0;
    let most = 0;
    for (const [, v] of journalLines().slice(3)) {
      on += v ? 1 : -1;
      most = Math.max(most, on);
    }
    expect(most).toBe(2);
    await r.bank.stop();
  });

  it('waters only inside its windows, with cooldown and minimum off-time', async () => {
    const cfg = farm({ schedule: [{ from: '05:00', to: '09:00' }, { from: '19:00', to: '23:00' }] }, { cooldownS: 3600, minOffS: 600 });
    const r = await rig(cfg, Date.parse('2026-06-15T02:30:00Z')); // 04:30 local
    r.store.update('soil-a', 40 - 10); // at threshold: not below
    r.store.update('soil-a', 29); // 96 s
    expect((await r.ctl.step([wilted(0, 0)])).map((x) => x.reason)).toEqual(['outside the watering windows']);
    await r.clock.advance(30 * 60_000); // 05:00 local
    r.store.update('soil-a', 29);
    expect((await r.ctl.step([wilted(0, 0)])).map((x) => x.action)).toEqual(['open']);
    await r.clock.advance(5 * 60_000);
    r.store.update('soil-a', 29);
    expect((await r.ctl.step([wilted(0, 0)])).map((x) => x.reason)).toEqual(['cooldown']);
    await r.clock.advance(60 * 60_000);
    r.store.update('soil-a', 29);
    expect((await r.ctl.step([wilted(0, 0)])).map((x) => x.action)).toEqual(['open']);
    await r.bank.stop();
  });

  it('zone and farm budgets per local day; the day ends at local midnight (22:00 UTC in a Berlin summer)', async () => {
    const cfg = farm({ dailyMaxOnS: 400 }, { dailyMaxOnS: 250 });
    const r = await rig(cfg, Date.parse('2026-06-15T19:00:00Z')); // 21:00 local
    const water = async (zone: 'a' | 'b' | 'c', x: number, y: number) => {
      r.store.update(`soil-${zone}`, 5); // 240 s wanted
      const d = (await r.ctl.step([wilted(x, y)])).find((e) => e.zone === zone)!;
      await r.clock.advance(300_000);
      return d.action === 'open' ? d.durationS : d.reason;
    };
    expect(await water('a', 0, 0)).toBe(240);
    expect(await water('a', 0, 0)).toBe(10); // what is left of the zone's 250 s
    expect(await water('a', 0, 0)).toBe('zone budget spent (250 of 250 s today)');
    expect(await water('b', 0.5, 0)).toBe(150); // the farm's 400 s minus 250
    expect(await water('c', 0, 0.5)).toBe('farm budget spent (400 of 400 s today)');
    expect(r.ctl.status().day).toBe('2026-06-15');
    await r.clock.advance(Date.parse('2026-06-15T22:00:00Z') - r.clock.wall() - 1000);
    expect(await water('c', 0, 0.5)).toBe('farm budget spent (400 of 400 s today)');
    expect(r.ctl.status().day).toBe('2026-06-15');
    expect(await water('c', 0, 0.5)).toBe(240); // 00:04 local: a new day
    expect(r.ctl.status()).toMatchObject({ day: '2026-06-16', farmUsedS: 240 });
    await r.bank.stop();
  });

  it('DST: the 23-hour day of 29 March 2026 in Berlin (windows and the day boundary follow local time)', async () => {
    const cfg = farm({ schedule: [{ from: '05:00', to: '09:00' }] });
    // 28 March 23:30 UTC = 29 March 00:30 CET: already the 29th.
    expect(localTime(Date.parse('2026-03-28T23:30:00Z'), TZ)).toMatchObject({ day: '2026-03-29', minute: 30 });
    // 02:00 CET jumps to 03:00 CEST (01:00 UTC). 05:00 local is then 03:00 UTC, not 04:00.
    expect(localTime(Date.parse('2026-03-29T01:00:00Z'), TZ).minute).toBe(3 * 60);
    const r = await rig(cfg, Date.parse('2026-03-29T02:59:00Z')); // 04:59 CEST
    r.store.update('soil-a', 20);
    expect((await r.ctl.step([wilted(0, 0)])).map((x) => x.reason)).toEqual(['outside the watering windows']);
    await r.clock.advance(60_000);
    r.store.update('soil-a', 20);
    expect((await r.ctl.step([wilted(0, 0)])).map((x) => x.action)).toEqual(['open']);
    // The 29th ends at 22:00 UTC (midnight CEST), 23 hours after it began.
    expect(localTime(Date.parse('2026-03-29T21:59:00Z'), TZ).day).toBe('2026-03-29');
    expect(localTime(Date.parse('2026-03-29T22:00:00Z'), TZ).day).toBe('2026-03-30');
    await r.bank.stop();
  });

  it('a stale or silent sensor: do nothing (default) or camera only, with a warning and in the status', async () => {
    const none = await rig(farm(), Date.parse('2026-06-15T04:00:00Z'), { ledger: false });
    none.store.update('soil-a', 10);
    await none.clock.advance(16 * 60_000); // older than 15 min
    const d = await none.ctl.step([wilted(0, 0), wilted(0.5, 0)]);
    expect(d.map((x) => [x.zone, x.action, x.reason])).toEqual([
      ['a', 'skip', 'soil-a stale or silent (sensorFallback: none)'],
      ['b', 'skip', 'soil-b stale or silent (sensorFallback: none)'],
    ]);
    expect(none.ctl.status().zones[0]).toMatchObject({ zone: 'a', fallback: 'soil-a stale or silent' });
    await none.bank.stop();

    const cam = await rig(farm({ sensorFallback: 'camera-only' }, { cameraOnlyS: 90 }), Date.parse('2026-06-15T04:00:00Z'), { ledger: false });
    const e = await cam.ctl.step([wilted(0, 0)]);
    expect(e.map((x) => [x.zone, x.action, x.durationS, x.sensor?.state])).toEqual([['a', 'open', 90, 'unknown']]);
    await cam.bank.stop();
  });

  it('restart mid-watering: the valve ends closed, the day budget is not reset, min off-time counts from the restart', async () => {
    const cfg = farm({ dailyMaxOnS: 1000 }, { minOffS: 600 });
    const r = await rig(cfg, Date.parse('2026-06-15T04:00:00Z'));
    r.store.update('soil-a', 5);
    expect((await r.ctl.step([wilted(0, 0)])).map((x) => x.durationS)).toEqual([240]);
    await r.clock.advance(60_000);
    // The process dies mid-watering: the outputs go safe (stop), the controller never gets to refund anything.
    await r.bank.stop();
    expect(journalLines().filter(([o]) => o === 'valve-a').at(-1)).toEqual(['valve-a', 0]);
    await r.clock.advance(30_000);
    const again = await rig(cfg, 0, { clock: r.clock });
    expect(again.ctl.status()).toMatchObject({ day: '2026-06-15', farmUsedS: 240, zones: [{ zone: 'a', open: false, usedS: 240 }, { usedS: 0 }, { usedS: 0 }] });
    again.store.update('soil-a', 5);
    expect((await again.ctl.step([wilted(0, 0)])).map((x) => x.reason)).toEqual(['minimum off-time']);
    await again.clock.advance(600_000);
    again.store.update('soil-a', 5);
    expect((await again.ctl.step([wilted(0, 0)])).map((x) => x.durationS)).toEqual([240]);
    expect(again.ctl.status().farmUsedS).toBe(480);
    // A clean stop mid-watering gives back the part not given.
    await again.clock.advance(40_000);
    again.ctl.stop();
    await again.bank.stop();
    expect(again.ctl.status().farmUsedS).toBe(280);
    expect(JSON.parse(readFileSync(join(dir, 'irrigation.json'), 'utf8'))).toMatchObject({ day: '2026-06-15', farmUsedS: 280 });
  });

  it('the default time zone is the process TZ (child process with TZ=Europe/Berlin)', () => {
    const mod = join(repo, 'dist', 'agent', 'irrigation', 'localtime.js');
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', `import { localTime } from ${JSON.stringify(mod)}; console.log(JSON.stringify(localTime(Date.parse('2026-10-25T01:30:00Z'))))`], {
      env: { ...process.env, TZ: 'Europe/Berlin' },
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    // 25 October 2026: CEST ends at 03:00 -> 02:00; 01:30 UTC is 02:30 CET (the second 02:30 of the night).
    expect(JSON.parse(r.stdout)).toEqual({ day: '2026-10-25', minute: 150, weekday: 'sun' });
  });
});
