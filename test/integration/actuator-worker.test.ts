import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { OutputBank, type ActuationReport } from '../../agent/actuators/output-bank.js';
import { outputSchema } from '../../agent/config/sections/outputs.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const built = existsSync(join(repo, 'dist', 'agent', 'actuators', 'worker.js'));
const dir = mkdtempSync(join(tmpdir(), 'outputs-worker-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function journal(file: string): Array<{ ts: string; output: string; value: number; reason: string }> {
  return readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

/** Blocks this (main) thread the way a long synchronous inference or a GC pause would. */
function blockMainThread(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    /* busy */
  }
}

describe.skipIf(!built)('output worker thread (needs dist/: npm run build)', () => {
  it('enforces maxOnMs and the stall watchdog while the main thread is blocked', async () => {
    const file = join(dir, 'blocked.jsonl');
    const bank = new OutputBank(
      { valve: outputSchema.parse({ driver: { type: 'dry-run' }, maxOnMs: 200 }), pump: outputSchema.parse({ driver: { type: 'dry-run' }, maxOnMs: 60_000 }) },
      { simulateJournal: file, stallMs: 300 },
    );
    await bank.start();
    for (let i = 0; i < 3; i++) {
      bank.heartbeat();
      await sleep(50);
    }
    bank.heartbeat();
    expect((await bank.hold('valve', { durationMs: 200, reason: 'irrigate' })).status).toBe('on');
    expect((await bank.hold('pump', { durationMs: 50_000, reason: 'fill' })).status).toBe('on');
    const blockedAt = Date.now();
    blockMainThread(1200); // no heartbeats, no event loop on the main thread
    const unblockedAt = Date.now();
    const e = journal(file);
    const valveOff = e.find((x) => x.output === 'valve' && x.value === 0 && x.reason === 'irrigate')!;
    const pumpOff = e.find((x) => x.output === 'pump' && x.value === 0 && x.reason === 'stall')!;
    expect(valveOff).toBeDefined();
    expect(pumpOff).toBeDefined();
    // Both happened while the main thread was still blocked.
    expect(Date.parse(valveOff.ts)).toBeLessThan(unblockedAt);
    expect(Date.parse(pumpOff.ts)).toBeLessThan(unblockedAt);
    expect(Date.parse(pumpOff.ts)).toBeGreaterThan(blockedAt);
    expect((await bank.status()).stalled).toBe(true);
    expect((await bank.hold('pump', { durationMs: 10, reason: 'x' })).detail).toBe('frame loop stalled: outputs held safe');
    bank.heartbeat();
    await sleep(100);
    expect((await bank.status()).stalled).toBe(false);
    await bank.stop();
  });

  it('converts the main thread\'s monotonic deadlines to the worker clock (fires at capture + delay, reports in main-thread time)', async () => {
    const file = join(dir, 'timebase.jsonl');
    const reports: ActuationReport[] = [];
    const bank = new OutputBank({ gate: outputSchema.parse({ driver: { type: 'dry-run' }, maxOnMs: 100 }) }, { simulateJournal: file, onReport: (r) => reports.push(r) });
    await bank.start();
    // A (monotonic, wall) pair taken close together, so that a descheduled test thread does not skew the comparison.
    let captureMono = 0;
    let captureWall = 0;
    for (let i = 0; i < 100; i++) {
      const a = performance.now();
      captureWall = Date.now();
      captureMono = performance.now();
      if (captureMono - a < 0.5) break;
    }
    expect((await bank.pulse('gate', { dueMono: captureMono + 400, widthMs: 50, reason: 'defect' })).status).toBe('scheduled');
    await sleep(700);
    await bank.stop();
    const on = journal(file).find((x) => x.value === 1)!;
    // The journal's wall time of the switch-on is capture + 400 ms. Not a timing test (the benchmark is): a wrong
    // time base would be off by the worker's start-up offset, seconds here, so the tolerance is generous.
    expect(Math.abs(Date.parse(on.ts) - (captureWall + 400))).toBeLessThanOrEqual(50);
    const fired = reports.find((r) => r.kind === 'fired')!;
    expect(fired.dueMono).toBeCloseTo(captureMono + 400, 6);
    expect(Math.abs(fired.atMono - (captureMono + 400))).toBeLessThan(50);
  });
});
