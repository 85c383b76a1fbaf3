import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SensorStore } from '../../agent/sensors/index.js';
import { parsePayload, parseTimestamp } from '../../drivers/sensors/payload.js';
import { moisturePercent } from '../../drivers/sensors/calibrate.js';
import { IioSensor, readMillivolts, resolveIioChannel } from '../../drivers/sensors/iio.js';
import { topicMatches } from '../../drivers/sensors/mqtt.js';
import { isAgentError } from '../../agent/errors.js';
import { iioSensorSchema } from '../../agent/config/sections/sensors.js';

const fixtures = resolve(import.meta.dirname, '..', 'fixtures');
const work = mkdtempSync(join(tmpdir(), 'sensors-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('SensorStore (fake clock)', () => {
  it('a reading older than the maximum age is stale: unknown, never its old value', () => {
    let now = 1_000_000;
    const s = new SensorStore({ maxAgeMs: 60_000, maxAgeMsBySensor: { rain: 3_600_000 }, now: () => now });
    expect(s.get('soil')).toEqual({ state: 'unknown' });
    s.update('soil', 18.5);
    s.update('rain', 0);
    expect(s.value('soil')).toBe(18.5);
    now += 60_000;
    expect(s.get('soil')).toMatchObject({ state: 'fresh', value: 18.5, ageMs: 60_000 });
    now += 1;
    expect(s.get('soil')).toMatchObject({ state: 'stale', lastValue: 18.5 });
    expect(s.value('soil')).toBeUndefined();
    // The rain gauge has its own, longer age.
    expect(s.value('rain')).toBe(0);
    expect(s.stale(['soil', 'rain', 'never'])).toEqual(['soil', 'never']);
  });

  it('uses the payload time, ignores out-of-order readings, takes a future time as now, refuses NaN', () => {
    let now = 10_000_000;
    const s = new SensorStore({ maxAgeMs: 60_000, now: () => now });
    expect(s.update('soil', 30, now - 120_000)).toBe(true);
    expect(s.get('soil').state).toBe('stale'); // measured two minutes ago
    expect(s.update('soil', 31, now - 10_000)).toBe(true);
    expect(s.update('soil', 99, now - 50_000)).toBe(false); // older than the one held (a retained replay)
    expect(s.value('soil')).toBe(31);
    expect(s.update('soil', 32, now + 3_600_000)).toBe(true); // gateway clock ahead
    expect(s.get('soil')).toMatchObject({ atMs: now, ageMs: 0 });
    expect(s.update('soil', Number.NaN)).toBe(false);
    expect(s.rejected).toBe(2);
    now += 1;
  });
});

describe('payloads as gateways publish them', () => {
  it('Zigbee2MQTT, ESPHome, The Things Stack', () => {
    expect(parsePayload('{"soil_moisture":41,"battery":90,"last_seen":"2026-06-15T06:00:00.000Z"}', 'soil_moisture', 'last_seen')).toEqual({ ok: true, value: 41, atMs: Date.parse('2026-06-15T06:00:00.000Z') });
    expect(parsePayload('23.4', undefined, undefined)).toEqual({ ok: true, value: 23.4, atMs: undefined });
    const ttn = JSON.stringify({ received_at: '2026-06-15T06:01:02Z', uplink_message: { decoded_payload: { moisture: 27.5 } } });
    expect(parsePayload(ttn, 'uplink_message.decoded_payload.moisture', 'received_at')).toEqual({ ok: true, value: 27.5, atMs: Date.parse('2026-06-15T06:01:02Z') });
    expect(parsePayload('{"rain":true}', 'rain', undefined)).toMatchObject({ ok: true, value: 1 });
    expect(parsePayload('{"ts":1781503200,"v":"12.5"}', 'v', 'ts')).toEqual({ ok: true, value: 12.5, atMs: 1781503200_000 });
  });

  it('refuses what it cannot read, saying where it looked', () => {
    expect(parsePayload('{"humidity":50}', 'soil_moisture', undefined)).toEqual({ ok: false, reason: 'no number at "soil_moisture"' });
    expect(parsePayload('{"soil_moisture":40}', 'soil_moisture', 'last_seen')).toEqual({ ok: false, reason: 'no timestamp at "last_seen"' });
    expect(parsePayload('online', 'v', undefined)).toEqual({ ok: false, reason: 'payload is not JSON' });
    expect(parseTimestamp('yesterday')).toBeUndefined();
  });

  it('topic filters', () => {
    expect(topicMatches('zigbee2mqtt/+', 'zigbee2mqtt/soil-1')).toBe(true);
    expect(topicMatches('farm/#', 'farm/a/b')).toBe(true);
    expect(topicMatches('farm/a', 'farm/a/b')).toBe(false);
  });
});

describe('calibration', () => {
  it('capacitive probe (higher when dry) and resistive (lower when dry), clamped', () => {
    const cap = { dryMv: 2800, wetMv: 1200 };
    expect(moisturePercent(2000, cap)).toBe(50);
    expect(moisturePercent(3000, cap)).toBe(0);
    expect(moisturePercent(1000, cap)).toBe(100);
    expect(moisturePercent(1500, { dryMv: 500, wetMv: 2500 })).toBe(50);
  });
});

describe('IIO ADC from sysroot fixtures', () => {
  const cfg = (c: object) => iioSensorSchema.parse({ type: 'iio', ...c });

  it('ADS1115 (ti-ads1015 driver): per-channel scale, by device folder or by name', () => {
    const root = join(fixtures, 'iio-ads1115-pi');
    expect(readMillivolts(resolveIioChannel(root, cfg({ device: 'iio:device0', channel: 0 }), 'x'))).toBe(2000);
    expect(readMillivolts(resolveIioChannel(root, cfg({ device: 'ads1115', channel: 1 }), 'x'))).toBe(1500);
  });

  it('MCP3008 (mcp320x driver): one shared in_voltage_scale', () => {
    const files = resolveIioChannel(join(fixtures, 'iio-mcp3008-pi'), cfg({ device: 'mcp3008', channel: 0 }), 'x');
    expect(files.scale.endsWith('in_voltage_scale')).toBe(true);
    expect(readMillivolts(files)).toBeCloseTo(1650, 6);
  });

  it('a device or channel that does not exist is a config error naming the config path (exit 78)', () => {
    const root = join(fixtures, 'iio-ads1115-pi');
    const attempt = (c: object, path: string) => {
      try {
        resolveIioChannel(root, cfg(c), path);
      } catch (err) {
        return err;
      }
      return undefined;
    };
    const e1 = attempt({ device: 'iio:device3', channel: 0 }, 'sensors.inputs.soil-2');
    expect(isAgentError(e1) && e1.exitCode).toBe(78);
    expect(isAgentError(e1) && e1.oneLine()).toMatch(/^sensors\.inputs\.soil-2\.device: no IIO device "iio:device3"/);
    const e2 = attempt({ device: 'ads1115', channel: 7 }, 'sensors.inputs.soil-2');
    expect(isAgentError(e2) && e2.oneLine()).toMatch(/^sensors\.inputs\.soil-2\.channel: .*in_voltage7_raw does not exist/);
    const e3 = attempt({ device: 'ads1015', channel: 0 }, 'sensors.inputs.x');
    expect(isAgentError(e3) && e3.exitCode).toBe(78);
  });

  it('polls into the store with calibration; a failing read leaves the value to go stale', async () => {
    const root = join(work, 'sysroot');
    cpSync(join(fixtures, 'iio-ads1115-pi'), root, { recursive: true });
    let now = 0;
    const store = new SensorStore({ maxAgeMs: 120_000, now: () => now });
    let tick: (() => void) | undefined;
    const sensor = new IioSensor({
      name: 'soil-1',
      config: cfg({ device: 'ads1115', channel: 0, intervalS: 60, calibration: { dryMv: 2800, wetMv: 1200 } }),
      sysRoot: root,
      setInterval: (fn) => {
        tick = fn;
        return 1;
      },
      clearInterval: () => undefined,
    });
    await sensor.start(store);
    expect(store.value('soil-1')).toBe(50); // 2000 mV between 2800 (dry) and 1200 (wet)
    const raw = join(root, 'sys/bus/iio/devices/iio:device0/in_voltage0_raw');
    writeFileSync(raw, '20800\n'); // 2600 mV: drier
    now += 60_000;
    tick!();
    expect(store.value('soil-1')).toBeCloseTo(12.5, 6);
    rmSync(raw); // the I2C read fails (the driver would return EIO)
    now += 60_000;
    tick!();
    expect(sensor.failures).toBe(1);
    expect(store.value('soil-1')).toBeCloseTo(12.5, 6);
    now += 60_001;
    tick!();
    expect(store.get('soil-1').state).toBe('stale');
    await sensor.stop();
  });
});

describe('sensorFileProblems (check-config seam)', () => {
  it('names every IIO input whose device or channel is missing, by config path', async () => {
    const { sensorFileProblems } = await import('../../drivers/sensors/index.js');
    const { sensorsSchema } = await import('../../agent/config/sections/sensors.js');
    const cfg = sensorsSchema.parse({
      inputs: {
        'soil-1': { type: 'iio', device: 'ads1115', channel: 0 },
        'soil-2': { type: 'iio', device: 'ads1115', channel: 5 },
        'soil-3': { type: 'iio', device: 'iio:device1', channel: 0 },
        rain: { type: 'mqtt', topic: 'x' },
      },
    });
    const probs = sensorFileProblems(cfg, join(fixtures, 'iio-ads1115-pi'));
    expect(probs.map((p) => p.path)).toEqual(['sensors.inputs.soil-2.channel', 'sensors.inputs.soil-3.device']);
    expect(probs[0]!.message).toMatch(/in_voltage5_raw does not exist/);
  });
});
