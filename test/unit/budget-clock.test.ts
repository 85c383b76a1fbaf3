/**
 * Daily on-time budgets on a clock that cannot be fooled (issue 22, finding 1): the budget's day moves forward
 * only when a synchronised wall clock says so or after 24 h of monotonic time; wall-clock jumps back or forward
 * (an RTC-less Pi booting a day behind, then corrected by NTP) never hand out a second budget. Restarts within
 * one boot measure with CLOCK_MONOTONIC stamps and the boot id, not the wall clock.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OutputBank } from '../../agent/actuators/output-bank.js';
import { outputSchema, type OutputConfig } from '../../agent/config/sections/outputs.js';
import { silentLogger } from '../../agent/log.js';
import { systemWallTrust, type BootClock, type WallTrust } from '../../agent/trusted-time.js';
import { FakeClock } from '../fixtures/gpio/fake-clock.js';

const DAY = 24 * 3600_000;
const t0 = Date.UTC(2026, 5, 1, 10, 0, 0);
let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'budget-clock-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const valve: OutputConfig = outputSchema.parse({ driver: { type: 'dry-run' }, maxOnMs: 60_000, dailyMaxOnS: 4 });

/** A switchable trust: false until NTP "synchronises". */
function trust(initial: boolean): WallTrust & { set(v: boolean): void } {
  let v = initial;
  return { trusted: () => v, describe: () => (v ? 'trusted (test)' : 'not trusted (test)'), set: (x) => void (v = x) };
}

/** One boot: CLOCK_MONOTONIC since boot advances with the fake clocks of the "processes" started in it. */
function bootClock(id: string): BootClock & { mono: number } {
  const b = { mono: 1_000_000, bootId: () => id, monoMs: () => b.mono };
  return b;
}

async function start(wall: number, t: WallTrust, boot: BootClock | null = null) {
  const clock = new FakeClock(wall);
  const bank = new OutputBank({ valve }, { clock, timers: clock, simulateJournal: join(dir, 'j.jsonl'), log: silentLogger, ledgerDir: join(dir, 'outputs'), wallTrust: t, bootClock: boot });
  await bank.start();
  return { bank, clock };
}

async function useBudget(a: { bank: OutputBank; clock: FakeClock }, ms: number, boot?: { mono: number }) {
  expect(await a.bank.hold('valve', { durationMs: ms, reason: 'water' })).toMatchObject({ status: 'on', durationMs: ms });
  await a.clock.advance(ms + 100);
  if (boot) boot.mono += ms + 100;
}

describe('daily budget vs wall-clock jumps', () => {
  it('a backward jump within a run does not reset the budget (not even with a trusted clock)', async () => {
    const a = await start(t0, trust(true));
    await useBudget(a, 4_000);
    expect((await a.bank.hold('valve', { durationMs: 1000, reason: 'more' })).status).toBe('refused');
    a.clock.shiftWall(-DAY);
    expect(await a.bank.hold('valve', { durationMs: 1000, reason: 'after the jump back' })).toMatchObject({ status: 'refused', detail: expect.stringMatching(/daily on-time budget/) });
    await a.bank.stop();
  });

  it('a forward jump with an unsynchronised clock does not reset it; 24 h of monotonic time does', async () => {
    const a = await start(t0, trust(false));
    await useBudget(a, 4_000);
    a.clock.shiftWall(2 * DAY);
    expect((await a.bank.hold('valve', { durationMs: 1000, reason: 'jumped' })).status).toBe('refused');
    await a.clock.advance(DAY);
    expect((await a.bank.hold('valve', { durationMs: 1000, reason: 'a day later' })).status).toBe('on');
    await a.bank.stop();
  });

  it('an RTC-less Pi that boots a day behind and is then corrected by NTP gets no second budget', async () => {
    const a = await start(t0, trust(true));
    await useBudget(a, 4_000);
    await a.bank.stop();
    // Reboot (another boot id): the clock comes up a day behind, not synchronised.
    const t = trust(false);
    const b = await start(t0 - DAY + 3600_000, t, bootClock('boot-2'));
    expect((await b.bank.status()).outputs[0]!.onTodayMs).toBe(4_000);
    expect((await b.bank.hold('valve', { durationMs: 1000, reason: 'behind' })).status).toBe('refused');
    // NTP corrects the clock to the real time: the same day as the ledger's, still used up.
    b.clock.shiftWall(DAY);
    t.set(true);
    expect((await b.bank.hold('valve', { durationMs: 1000, reason: 'corrected' })).status).toBe('refused');
    // The real next day, on the synchronised clock: a new budget.
    b.clock.shiftWall(DAY);
    expect((await b.bank.hold('valve', { durationMs: 1000, reason: 'next day' })).status).toBe('on');
    await b.bank.stop();
  });

  it('restarts within one boot measure the on-time of a killed run and the off-time by CLOCK_MONOTONIC, not a jumped wall clock', async () => {
    const boot = bootClock('boot-1');
    const pump: OutputConfig = outputSchema.parse({ driver: { type: 'dry-run' }, maxOnMs: 60_000, minOffMs: 10_000, dailyMaxOnS: 100 });
    const mk = async (wall: number) => {
      const clock = new FakeClock(wall);
      const bank = new OutputBank({ pump }, { clock, timers: clock, simulateJournal: join(dir, 'j.jsonl'), log: silentLogger, ledgerDir: join(dir, 'outputs'), wallTrust: trust(true), bootClock: boot });
      await bank.start();
      return { bank, clock };
    };
    const a = await mk(t0);
    await a.bank.hold('pump', { durationMs: 30_000, reason: 'fill' });
    await a.clock.advance(5_000);
    boot.mono += 5_000;
    // Killed with the pump on. Restarted 2 s later (monotonic), while the wall clock jumped back an hour.
    const rec = JSON.parse(readFileSync(join(dir, 'outputs', 'pump.json'), 'utf8')) as Record<string, unknown>;
    expect(rec).toMatchObject({ bootId: 'boot-1', onSinceMono: 1_000_000 });
    boot.mono += 2_000;
    const b = await mk(t0 + 7_000 - 3600_000);
    // 7 s on until the restart (monotonic), not 0 (the wall clock says it went on in the future).
    expect((await b.bank.status()).outputs[0]!.onTodayMs).toBe(7_000);
    expect((await b.bank.hold('pump', { durationMs: 1000, reason: 'again' })).status).toBe('refused');
    await b.clock.advance(1_000);
    await b.bank.stop();
    boot.mono += 1_000;
    // Stopped cleanly (off). A restart 3 s later on the monotonic clock, the wall clock now a day ahead:
    // the minimum off-time still runs from the switch-off (10 s), it is not satisfied by the jump.
    boot.mono += 2_000;
    const c = await mk(t0 + DAY);
    expect(await c.bank.hold('pump', { durationMs: 1000, reason: 'too soon' })).toMatchObject({ status: 'refused', detail: expect.stringMatching(/^minOffMs 10000: wait \d+ ms$/) });
    await c.bank.stop();
  });
});

describe('systemWallTrust', () => {
  it('trusts the clock once a synchronisation flag file exists, or when the operator says so', () => {
    const flag = join(dir, 'synchronized');
    let t = 0;
    const w = systemWallTrust({ files: [flag], env: {}, timedatectlEveryMs: 0, now: () => t });
    expect(w.trusted()).toBe(false);
    expect(w.describe()).toMatch(/not trusted/);
    writeFileSync(flag, '');
    t += 1_000;
    expect(w.trusted()).toBe(true);
    expect(w.describe()).toMatch(/synchronized exists/);
    expect(systemWallTrust({ files: [], env: { EDGE_AGENT_WALL_CLOCK: 'trusted' }, timedatectlEveryMs: 0 }).trusted()).toBe(true);
  });
});
