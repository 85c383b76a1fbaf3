/**
 * Output limits that must outlive a restart (agent/actuators/ledger.ts): the daily on-time budget, the minimum
 * off-time and an activation that was running when the process died. Each "restart" is a new OutputBank on a new
 * fake clock whose monotonic time starts again at 0 while the wall clock goes on, as after a real restart.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { OutputBank } from '../../agent/actuators/output-bank.js';
import { outputSchema, type OutputConfig } from '../../agent/config/sections/outputs.js';
import { silentLogger, type Logger } from '../../agent/log.js';
import { FakeClock } from '../fixtures/gpio/fake-clock.js';

let dir: string;
let ledger: string;
const t0 = Date.UTC(2026, 5, 1, 6, 0, 0); // 06:00 UTC: far from a local midnight in any usual test time zone

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ledger-'));
  ledger = join(dir, 'outputs');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function out(o: Record<string, unknown>): OutputConfig {
  return outputSchema.parse({ driver: { type: 'dry-run' }, ...o });
}

/** A freshly started agent: its own monotonic clock from 0, the wall clock at `wall`. */
async function boot(outputs: Record<string, OutputConfig>, wall: number, log: Logger = silentLogger): Promise<{ bank: OutputBank; clock: FakeClock }> {
  const clock = new FakeClock(wall);
  const bank = new OutputBank(outputs, { clock, timers: clock, simulateJournal: join(dir, 'journal.jsonl'), log, ledgerDir: ledger });
  await bank.start();
  return { bank, clock };
}

function record(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(ledger, `${name}.json`), 'utf8')) as Record<string, unknown>;
}

describe('output ledger: limits that survive a restart', () => {
  it('the daily on-time budget is not reset by a restart', async () => {
    const valve = out({ maxOnMs: 10_000, dailyMaxOnS: 1 });
    const a = await boot({ valve }, t0);
    expect(await a.bank.hold('valve', { durationMs: 600, reason: 'dry' })).toMatchObject({ status: 'on', durationMs: 600 });
    await a.clock.advance(700);
    await a.bank.stop();
    expect(record('valve')).toMatchObject({ onMs: 600 });

    const b = await boot({ valve }, a.clock.wall() + 60_000);
    expect((await b.bank.status()).outputs[0]!.onTodayMs).toBe(600);
    expect(await b.bank.hold('valve', { durationMs: 600, reason: 'dry' })).toMatchObject({ status: 'on', durationMs: 400, detail: 'limited to 400 ms by the daily budget' });
    await b.clock.advance(500);
    await b.bank.stop();

    // The next local day starts from zero.
    const c = await boot({ valve }, b.clock.wall() + 24 * 3600_000);
    expect((await c.bank.status()).outputs[0]!.onTodayMs).toBe(0);
    expect(await c.bank.hold('valve', { durationMs: 900, reason: 'dry' })).toMatchObject({ status: 'on', durationMs: 900 });
    await c.clock.advance(1000);
    await c.bank.stop();
  });

  it('a process that died with the output on: the time until the restart counts, and the minimum off-time starts at the restart', async () => {
    const logged: Array<{ level: number; msg: string; countedS?: number }> = [];
    const log = pino({ level: 'info' }, new Writable({ write: (ch: Buffer, _e, cb) => (logged.push(JSON.parse(ch.toString())), cb()) }));
    const valve = out({ maxOnMs: 60_000, minOffMs: 20_000, dailyMaxOnS: 100 });
    const a = await boot({ valve }, t0);
    await a.bank.hold('valve', { durationMs: 30_000, reason: 'dry' });
    await a.clock.advance(10_000);
    // Killed here (SIGKILL, power cut): no stop(), no safe path. The ledger says when it went on.
    expect(record('valve')).toMatchObject({ onMs: 0, onSinceWall: t0 });

    const b = await boot({ valve }, t0 + 15_000, log);
    expect((await b.bank.status()).outputs[0]!.onTodayMs).toBe(15_000);
    expect(logged.find((l) => /was on when the agent last stopped/.test(l.msg))).toMatchObject({ level: 40, countedS: 15 });
    expect(await b.bank.hold('valve', { durationMs: 1000, reason: 'dry' })).toMatchObject({ status: 'refused', detail: 'minOffMs 20000: wait 20000 ms' });
    await b.clock.advance(20_000);
    expect(await b.bank.hold('valve', { durationMs: 1000, reason: 'dry' })).toMatchObject({ status: 'on' });
    await b.clock.advance(2000);
    await b.bank.stop();
    expect(record('valve')).toMatchObject({ onMs: 16_000 });
    expect(record('valve')).not.toHaveProperty('onSinceWall');
  });

  it('the crash path (safeAllSync) writes the on-time it ended', async () => {
    const valve = out({ maxOnMs: 60_000, dailyMaxOnS: 100 });
    const a = await boot({ valve }, t0);
    await a.bank.hold('valve', { durationMs: 30_000, reason: 'dry' });
    await a.clock.advance(4_000);
    expect(a.bank.safeAllSync('uncaught exception')).toBe(true);
    expect(record('valve')).toEqual({ day: expect.stringMatching(/^\d{4}-\d\d-\d\d$/), onMs: 4_000, lastOffWall: t0 + 4_000 });
    const b = await boot({ valve }, t0 + 3600_000);
    expect((await b.bank.status()).outputs[0]!.onTodayMs).toBe(4_000);
    await b.bank.stop();
  });

  it('the minimum off-time holds across a quick restart', async () => {
    const pump = out({ maxOnMs: 10_000, minOffMs: 5_000 });
    const a = await boot({ pump }, t0);
    await a.bank.hold('pump', { durationMs: 100, reason: 'fill' });
    await a.clock.advance(200);
    await a.bank.stop();
    const b = await boot({ pump }, a.clock.wall() + 2_000);
    expect(await b.bank.hold('pump', { durationMs: 100, reason: 'fill' })).toMatchObject({ status: 'refused', detail: 'minOffMs 5000: wait 2900 ms' });
    await b.clock.advance(2_900);
    expect((await b.bank.hold('pump', { durationMs: 100, reason: 'fill' })).status).toBe('on');
    await b.clock.advance(200);
    await b.bank.stop();
  });

  it('a corrupt ledger is reported and replaced; an output without lasting limits writes none', async () => {
    mkdirSync(ledger, { recursive: true });
    writeFileSync(join(ledger, 'valve.json'), '{"day": 12');
    const logged: Array<{ level: number; msg: string }> = [];
    const log = pino({ level: 'info' }, new Writable({ write: (ch: Buffer, _e, cb) => (logged.push(JSON.parse(ch.toString())), cb()) }));
    const a = await boot({ valve: out({ maxOnMs: 10_000, dailyMaxOnS: 5 }), gate: out({ maxOnMs: 500 }) }, t0, log);
    expect(logged.some((l) => l.level === 40 && /output ledger corrupt/.test(l.msg))).toBe(true);
    expect((await a.bank.hold('valve', { durationMs: 300, reason: 'dry' })).status).toBe('on');
    expect((await a.bank.pulse('gate', { dueMono: 1000, widthMs: 50, reason: 'defect' })).status).toBe('scheduled');
    await a.clock.advance(2000);
    await a.bank.stop();
    expect(record('valve')).toMatchObject({ onMs: 300 });
    expect(existsSync(join(ledger, 'gate.json'))).toBe(false);
  });
});
