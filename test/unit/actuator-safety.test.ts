import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { OutputBank, type ActuationReport } from '../../agent/actuators/output-bank.js';
import type { Actuator } from '../../agent/actuators/actuator.js';
import { outputSchema, type OutputConfig } from '../../agent/config/sections/outputs.js';
import { AgentError } from '../../agent/errors.js';
import { silentLogger } from '../../agent/log.js';
import { createActuator } from '../../drivers/gpio/registry.js';
import { FakeClock, settle } from '../fixtures/gpio/fake-clock.js';
import { FakeGpioKernel, bcm2711LineNames } from '../fixtures/gpio/fake-kernel.js';

let dir: string;
let journal: string;
let clock: FakeClock;
let reports: ActuationReport[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'outputs-'));
  journal = join(dir, 'journal.jsonl');
  clock = new FakeClock();
  reports = [];
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function out(o: Record<string, unknown>): OutputConfig {
  return outputSchema.parse({ driver: { type: 'dry-run' }, ...o });
}

async function bank(outputs: Record<string, OutputConfig>, extra: Partial<ConstructorParameters<typeof OutputBank>[1]> = {}): Promise<OutputBank> {
  const b = new OutputBank(outputs, { clock, timers: clock, simulateJournal: journal, log: silentLogger, onReport: (r) => reports.push(r), ...extra });
  await b.start();
  return b;
}

/** Journal lines as [ms on the fake clock, value, reason]. */
function lines(): Array<[number, number, string]> {
  return readFileSync(journal, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { ts: string; value: number; reason: string })
    .map((e) => [Date.parse(e.ts) - clock.wall() + clock.now(), e.value, e.reason]);
}

describe('pulses (reject gate)', () => {
  it('fires at capture time + travel delay whatever the inference latency, for exactly widthMs', async () => {
    const b = await bank({ gate: out({ maxOnMs: 500 }) });
    await clock.advance(1000);
    const captureMono = clock.now(); // frame captured at t=1000
    await clock.advance(120); // inference + rules took 120 ms
    const o = await b.pulse('gate', { dueMono: captureMono + 300, widthMs: 80, reason: 'rule defect' });
    expect(o).toEqual({ type: 'pulse', output: 'gate', status: 'scheduled', dueMono: 1300, widthMs: 80 });
    await clock.advance(1000);
    expect(lines()).toEqual([
      [0, 0, 'start'],
      [1300, 1, 'rule defect'],
      [1380, 0, 'rule defect'],
    ]);
    const fired = reports.find((r) => r.kind === 'fired')!;
    expect(fired).toMatchObject({ dueMono: 1300, atMono: 1300, errorMs: 0 });
    expect((await b.status()).outputs[0]).toMatchObject({ actuations: 1, missed: 0, level: 'inactive', onTodayMs: 80 });
    await b.stop();
  });

  it('a deadline already past when the decision arrives is missed, never fired late', async () => {
    const b = await bank({ gate: out({}) });
    await clock.advance(1000);
    const captureMono = clock.now();
    await clock.advance(150); // inference slower than the 100 ms travel time
    const o = await b.pulse('gate', { dueMono: captureMono + 100, widthMs: 50, reason: 'rule defect' });
    expect(o.status).toBe('missed');
    expect(o.detail).toMatch(/deadline passed 50\.0 ms before the request/);
    await clock.advance(500);
    expect(lines()).toEqual([[0, 0, 'start']]);
    expect((await b.status()).outputs[0]).toMatchObject({ actuations: 0, missed: 1 });
    await b.stop();
  });

  it('several parts in flight get one pulse each; a pulse too close to the previous one (minOffMs) is refused', async () => {
    const b = await bank({ gate: out({ maxOnMs: 200, minOffMs: 50 }) });
    const r1 = await b.pulse('gate', { dueMono: 300, widthMs: 100, reason: 'part 1' });
    const r2 = await b.pulse('gate', { dueMono: 600, widthMs: 100, reason: 'part 2' });
    const r3 = await b.pulse('gate', { dueMono: 420, widthMs: 100, reason: 'part 3' }); // 20 ms after part 1's off
    expect([r1.status, r2.status, r3.status]).toEqual(['scheduled', 'scheduled', 'refused']);
    expect(r3.detail).toMatch(/overlaps a pulse .*minOffMs 50/);
    await clock.advance(1000);
    expect(lines().slice(1)).toEqual([
      [300, 1, 'part 1'],
      [400, 0, 'part 1'],
      [600, 1, 'part 2'],
      [700, 0, 'part 2'],
    ]);
    await b.stop();
  });

  it('with minOffMs 0, back-to-back pulses need a 5 ms gap (the first one\'s off is timed from its real switch-on)', async () => {
    const b = await bank({ gate: out({ maxOnMs: 200, minOffMs: 0 }) });
    expect((await b.pulse('gate', { dueMono: 100, widthMs: 50, reason: 'a' })).status).toBe('scheduled');
    expect((await b.pulse('gate', { dueMono: 150, widthMs: 50, reason: 'b' })).status).toBe('refused');
    expect((await b.pulse('gate', { dueMono: 155, widthMs: 50, reason: 'c' })).status).toBe('scheduled');
    await clock.advance(500);
    expect(lines().slice(1)).toEqual([
      [100, 1, 'a'],
      [150, 0, 'a'],
      [155, 1, 'c'],
      [205, 0, 'c'],
    ]);
    await b.stop();
  });

  it('a pulse longer than maxOnMs is refused naming maxOnMs', async () => {
    const b = await bank({ gate: out({ maxOnMs: 200 }) });
    const o = await b.pulse('gate', { dueMono: 100, widthMs: 250, reason: 'x' });
    expect(o).toMatchObject({ status: 'refused', detail: 'pulse of 250 ms exceeds maxOnMs 200' });
    expect((await b.status()).outputs[0]!.refused).toBe(1);
    await b.stop();
  });
});

describe('holds (relay)', () => {
  it('maximum on-time: a longer hold is refused and extensions stop at maxOnMs from switch-on', async () => {
    const b = await bank({ valve: out({ maxOnMs: 1000 }) });
    expect((await b.hold('valve', { durationMs: 1500, reason: 'dry' })).detail).toBe('hold of 1500 ms exceeds maxOnMs 1000');
    await clock.advance(100);
    expect(await b.hold('valve', { durationMs: 800, reason: 'dry' })).toMatchObject({ status: 'on', durationMs: 800 });
    await clock.advance(600); // t=700, still on; extend by 800 -> capped at 100 + 1000
    const ext = await b.hold('valve', { durationMs: 800, reason: 'still dry' });
    expect(ext).toMatchObject({ status: 'on', durationMs: 400, detail: 'extended, capped by maxOnMs 1000' });
    await clock.advance(2000);
    expect(lines()).toEqual([
      [0, 0, 'start'],
      [100, 1, 'dry'],
      [1100, 0, 'still dry'],
    ]);
    await b.stop();
  });

  it('minimum off-time between activations', async () => {
    const b = await bank({ pump: out({ maxOnMs: 1000, minOffMs: 200 }) });
    await b.hold('pump', { durationMs: 100, reason: 'a' });
    await clock.advance(150); // off at 100
    const r = await b.hold('pump', { durationMs: 100, reason: 'b' });
    expect(r).toMatchObject({ status: 'refused', detail: 'minOffMs 200: wait 150 ms' });
    await clock.advance(150); // t=300: 200 ms after the off
    expect((await b.hold('pump', { durationMs: 100, reason: 'c' })).status).toBe('on');
    await clock.advance(500);
    expect(lines().map(([t, v]) => [t, v])).toEqual([[0, 0], [0, 1], [100, 0], [300, 1], [400, 0]]);
    await b.stop();
  });

  it('daily on-time budget: limited, then refused, and available again the next local day', async () => {
    const b = await bank({ valve: out({ maxOnMs: 10_000, dailyMaxOnS: 1 }) });
    expect(await b.hold('valve', { durationMs: 600, reason: 'a' })).toMatchObject({ status: 'on', durationMs: 600 });
    await clock.advance(700);
    expect(await b.hold('valve', { durationMs: 600, reason: 'b' })).toMatchObject({ status: 'on', durationMs: 400, detail: 'limited to 400 ms by the daily budget' });
    await clock.advance(700);
    const r = await b.hold('valve', { durationMs: 100, reason: 'c' });
    expect(r).toMatchObject({ status: 'refused', detail: 'daily on-time budget (dailyMaxOnS 1) used up' });
    expect((await b.pulse('valve', { dueMono: clock.now() + 10, widthMs: 10, reason: 'd' })).detail).toMatch(/daily on-time budget .* 0\.0 s left/);
    expect((await b.status()).outputs[0]!.onTodayMs).toBe(1000);
    clock.shiftWall(24 * 3600_000);
    expect((await b.hold('valve', { durationMs: 100, reason: 'e' })).status).toBe('on');
    await clock.advance(200);
    await b.stop();
  });
});

describe('stall, stop and crash paths', () => {
  it('no heartbeat for stallMs: everything safe, pulses cancelled, refused until heartbeats resume', async () => {
    const b = await bank({ valve: out({ maxOnMs: 60_000 }), gate: out({}) }, { stallMs: 500 });
    for (let i = 0; i < 5; i++) {
      b.heartbeat();
      await clock.advance(100);
    }
    await b.hold('valve', { durationMs: 30_000, reason: 'dry' });
    expect((await b.pulse('gate', { dueMono: clock.now() + 2000, widthMs: 100, reason: 'defect' })).status).toBe('scheduled');
    const lastBeat = clock.now() - 100;
    await clock.advance(1000); // the frame loop hangs
    const valveOff = lines().find(([, v, r]) => v === 0 && r === 'stall')!;
    expect(valveOff[0] - lastBeat).toBeGreaterThanOrEqual(500);
    expect(valveOff[0] - lastBeat).toBeLessThanOrEqual(500 + 125);
    expect(reports.some((r) => r.output === 'gate' && r.kind === 'missed' && r.detail === 'cancelled: stall')).toBe(true);
    const refused = await b.hold('valve', { durationMs: 100, reason: 'dry' });
    expect(refused).toMatchObject({ status: 'refused', detail: 'frame loop stalled: outputs held safe' });
    expect((await b.status()).stalled).toBe(true);
    b.heartbeat();
    expect((await b.hold('valve', { durationMs: 100, reason: 'dry' })).status).toBe('on');
    await clock.advance(3000);
    expect(lines().filter(([, , r]) => r === 'defect')).toEqual([]); // the cancelled pulse never fired
    await b.stop();
  });

  it('stop() and safeAllSync() leave every output at its safe level and refuse further activations', async () => {
    const b = await bank({ valve: out({ maxOnMs: 60_000 }), gate: out({}) });
    await b.hold('valve', { durationMs: 30_000, reason: 'dry' });
    await b.pulse('gate', { dueMono: 5000, widthMs: 100, reason: 'defect' });
    await clock.advance(100);
    expect(b.safeAllSync('signal SIGTERM')).toBe(true);
    expect(lines().slice(-2)).toEqual([
      [100, 0, 'signal SIGTERM'],
      [100, 0, 'signal SIGTERM'],
    ]);
    expect((await b.hold('valve', { durationMs: 10, reason: 'x' })).detail).toBe('shutting down (signal SIGTERM)');
    await b.stop();
    const final = new Map(lines().map(([, v, r], i) => [i, [v, r]]));
    expect([...final.values()].slice(-2)).toEqual([
      [0, 'stop'],
      [0, 'stop'],
    ]);
    await clock.advance(10_000);
    expect(lines().filter(([, , r]) => r === 'defect')).toEqual([]);
  });
});

describe('an output that cannot be switched off', () => {
  it('is retried, counted and logged loudly, and refused until it recovers', async () => {
    const logged: Array<{ level: number; msg: string }> = [];
    const log = pino({ level: 'info' }, new Writable({ write: (c: Buffer, _e, cb) => (logged.push(JSON.parse(c.toString())), cb()) }));
    let failOffs = 2;
    const levels: boolean[] = [];
    const flaky = async (): Promise<Actuator> => ({
      type: 'flaky',
      describe: () => 'flaky relay',
      start: async () => void levels.push(false),
      write: async (active: boolean) => {
        if (!active && failOffs-- > 0) throw new Error('EIO: relay board not answering');
        levels.push(active);
      },
      safe: async () => void levels.push(false),
      safeSync: () => (levels.push(false), true),
      stop: async () => void levels.push(false),
    });
    const b = new OutputBank({ pump: out({ maxOnMs: 1000 }) }, { clock, timers: clock, log, createDriver: flaky, onReport: (r) => reports.push(r) });
    await b.start();
    await b.hold('pump', { durationMs: 200, reason: 'fill' });
    await clock.advance(250);
    expect((await b.status()).outputs[0]).toMatchObject({ level: 'stuck', failures: 1 });
    expect(logged.some((l) => l.level === 50 && /OUTPUT STUCK ON/.test(l.msg))).toBe(true);
    expect((await b.hold('pump', { durationMs: 100, reason: 'again' })).detail).toMatch(/stuck on/);
    await clock.advance(1000); // retries at +100 (fails) and +200 (works)
    expect((await b.status()).outputs[0]).toMatchObject({ level: 'inactive', failures: 2 });
    expect(reports.map((r) => r.kind)).toEqual(['fired', 'stuck', 'refused', 'recovered', 'off']);
    expect(levels).toEqual([false, true, false]);
    await b.stop();
  });
});

describe('config errors at start', () => {
  const chips = (devRoot: string): FakeGpioKernel =>
    new FakeGpioKernel({ [join(devRoot, 'gpiochip0')]: { name: 'gpiochip0', label: 'pinctrl-bcm2711', lines: bcm2711LineNames } });

  it('a line that does not exist fails start() with one clear line, and outputs already claimed are released', async () => {
    writeFileSync(join(dir, 'gpiochip0'), '');
    const kernel = chips(dir);
    const outputs = {
      gate: out({ driver: { type: 'gpiochip', chip: 'gpiochip0', line: 'GPIO17' }, activeLow: true }),
      valve: out({ driver: { type: 'gpiochip', chip: 'gpiochip0', line: 'GPIO99' } }),
    };
    const b = new OutputBank(outputs, { clock, timers: clock, driverContext: { devRoot: dir, gpioSyscalls: kernel }, createDriver: createActuator });
    const err = (await b.start().catch((e: unknown) => e)) as AgentError;
    expect(err).toBeInstanceOf(AgentError);
    expect(err.oneLine()).toMatch(/^output "valve": no line named "GPIO99" on pinctrl-bcm2711/);
    const [gate] = kernel.lines();
    expect(gate).toMatchObject({ offset: 17, activeLow: true, released: true, history: [1, 1] });
  });

  it('drives a real gpiochip line through the safety layer: active-low pulse on the fake kernel', async () => {
    writeFileSync(join(dir, 'gpiochip0'), '');
    const kernel = chips(dir);
    const b = new OutputBank({ gate: out({ driver: { type: 'gpiochip', chip: 'pinctrl-bcm2711', line: 'GPIO17' }, activeLow: true, maxOnMs: 100 }) }, { clock, timers: clock, driverContext: { devRoot: dir, gpioSyscalls: kernel } });
    await b.start();
    await b.pulse('gate', { dueMono: 50, widthMs: 40, reason: 'defect' });
    await clock.advance(30);
    expect(kernel.lines()[0]!.physical).toBe(1);
    await clock.advance(30);
    expect(kernel.lines()[0]!.physical).toBe(0); // active = low
    await clock.advance(40);
    expect(kernel.lines()[0]!.physical).toBe(1);
    await b.stop();
    expect(kernel.lines()[0]!.released).toBe(true);
    await settle();
  });
});

describe('maximum on-time guard', () => {
  it('switches off at maxOnMs even when the driver never confirms the switch-on (planned off never armed)', async () => {
    const writes: Array<[number, boolean]> = [];
    const hanging = async (): Promise<Actuator> => ({
      type: 'hanging',
      describe: () => 'relay behind a hung broker',
      start: async () => undefined,
      write: (active: boolean) => {
        writes.push([clock.now(), active]);
        return active ? new Promise<void>(() => undefined) : Promise.resolve();
      },
      safe: async () => undefined,
      safeSync: () => true,
      stop: async () => undefined,
    });
    const b = new OutputBank({ gate: out({ maxOnMs: 300 }) }, { clock, timers: clock, createDriver: hanging, log: silentLogger });
    await b.start();
    await b.pulse('gate', { dueMono: 100, widthMs: 50, reason: 'defect' });
    await clock.advance(1000);
    expect(writes).toEqual([
      [100, true],
      [402, false], // maxOnMs 300 + 2 ms guard slack, not the 50 ms width the hung write never got to plan
    ]);
    await b.stop();
  });
});
