/**
 * FarmWiring (agent/app/farm-wiring.ts) on a simulated clock: an ADS1115 channel read from the sysroot fixture
 * (test/fixtures/iio-ads1115-pi), the real OutputBank with dry-run valves, the real bus. A probe older than its
 * maximum age is put on the bus as degraded once (not on every check) and cleared when it reads again; frames come
 * from the bus `decision` message of the configured camera only, latest frame wins while a step runs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FarmWiring } from '../../agent/app/farm-wiring.js';
import { EventBus, type BusEvents } from '../../agent/bus.js';
import { OutputBank } from '../../agent/actuators/output-bank.js';
import { MediaTime } from '../../agent/pipeline/media-time.js';
import { irrigationSchema } from '../../agent/irrigation/config.js';
import { sensorsSchema } from '../../agent/config/sections/sensors.js';
import { outputsSchema } from '../../agent/config/sections/outputs.js';
import { eventsConfigSchema as eventsSchema } from '../../agent/config/sections/events.js';
import { silentLogger } from '../../agent/log.js';
import type { IioSensor } from '../../drivers/sensors/iio.js';

const sysRoot = resolve(import.meta.dirname, '..', 'fixtures', 'iio-ads1115-pi');
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function setup(irrigation: Record<string, unknown>) {
  const dir = mkdtempSync(join(tmpdir(), 'farm-wiring-'));
  dirs.push(dir);
  const clock = new MediaTime(Date.parse('2026-06-15T04:00:00Z'));
  const config = {
    sensors: sensorsSchema.parse({ maxAgeS: 60, inputs: { soil: { type: 'iio', device: 'ads1115', channel: 0, intervalS: 3600, calibration: { dryMv: 2800, wetMv: 1200 } } } }),
    irrigation: irrigationSchema.parse(irrigation),
    events: eventsSchema.parse({}),
  };
  const bank = new OutputBank(outputsSchema.parse({ 'valve-1': { driver: { type: 'dry-run' }, maxOnMs: 600_000 } }), { clock, timers: clock, simulateJournal: join(dir, 'valves.jsonl'), log: silentLogger });
  const bus = new EventBus(silentLogger);
  const degraded: Array<BusEvents['degraded']> = [];
  bus.on('degraded', 'test', (p) => degraded.push(p));
  const steps: number[] = [];
  const farm = new FarmWiring({ config, stateDir: dir, log: silentLogger, sysRoot, now: () => clock.wall(), checkEveryMs: 0, onDecisions: (d) => steps.push(d[0]!.atMs) });
  await bank.start();
  await farm.start({ bus, outputs: bank });
  return { clock, bank, bus, farm, degraded, steps, stop: async () => (await farm.stop(), await bank.stop()) };
}

const zone = (extra: Record<string, unknown> = {}) => ({
  zones: { 'zone-1': { valve: 'valve-1', area: { polygon: [[0, 0], [1, 0], [1, 1], [0, 1]] }, camera: { labels: { dry_soil: 0.5 }, frames: 1 }, sensor: 'soil', maxOnS: 60, ...extra } },
});
const dry = [{ classId: 2, label: 'dry_soil', score: 0.9, box: [0.1, 0.1, 0.2, 0.2] as [number, number, number, number], trackId: 1, hits: 1 }];

describe('FarmWiring', () => {
  it('a probe past its maximum age: degraded once with the zone and its fallback, cleared when it reads again', async () => {
    const f = await setup({ sensorFallback: 'none', ...zone() });
    expect(f.farm.store.get('soil').state).toBe('fresh');
    await f.clock.advanceTo(f.clock.now() + 61_000);
    f.farm.checkSilent();
    f.farm.checkSilent();
    expect(f.degraded).toEqual([{ component: 'sensor soil', reason: 'no reading for 61 s (maxAgeS 60); zone-1 will not water' }]);
    (f.farm.inputs[0] as IioSensor).poll(f.farm.store);
    f.farm.checkSilent();
    expect(f.degraded.at(-1)).toEqual({ component: 'sensor soil', reason: null });
    expect(f.degraded).toHaveLength(2);
    await f.stop();
  });

  it('camera-only fallback is named in the reason', async () => {
    const f = await setup({ sensorFallback: 'camera-only', ...zone() });
    await f.clock.advanceTo(f.clock.now() + 120_000);
    f.farm.checkSilent();
    expect(f.degraded).toEqual([{ component: 'sensor soil', reason: 'no reading for 120 s (maxAgeS 60); zone-1 waters on the camera alone' }]);
    await f.stop();
  });

  it('takes frames of its camera only, the latest while a step runs', async () => {
    // Outside every window: each frame with dry soil is one "skip" decision, so steps are countable.
    const f = await setup({ camera: 'bench', schedule: [{ from: '20:00', to: '21:00' }], ...zone() });
    const t0 = f.clock.wall();
    f.bus.emit('decision', { camera: 'default', seq: 1, captureTs: t0, detections: dry, firings: [] });
    await f.farm.idle();
    expect(f.steps).toEqual([]);
    for (let i = 0; i < 3; i++) f.bus.emit('decision', { camera: 'bench', seq: i, captureTs: t0 + i * 1000, detections: dry, firings: [] });
    await f.farm.idle();
    // The first started at once; the second was replaced by the third before the controller was free.
    expect(f.steps).toEqual([t0, t0 + 2000]);
    expect(f.farm.dropped).toBe(1);
    await f.stop();
  });
});
