import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectAsync, type MqttClient } from 'mqtt';
import { mosquittoAvailable, startBroker, type Broker } from '../../drivers/mqtt/broker.js';
import { MqttSensors } from '../../drivers/sensors/mqtt.js';
import { SensorStore } from '../../agent/sensors/store.js';
import { mqttSensorSchema } from '../../agent/config/sections/sensors.js';

const haveMosquitto = mosquittoAvailable();

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (cond()) return;
    await sleep(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe.skipIf(!haveMosquitto)('MQTT soil and rain sensors against a real mosquitto', () => {
  let broker: Broker;
  let pub: MqttClient;
  let sensors: MqttSensors;
  let now = Date.parse('2026-06-15T06:00:00Z');
  const store = new SensorStore({ maxAgeMs: 15 * 60_000, now: () => now });

  beforeAll(async () => {
    broker = await startBroker({ prefer: 'mosquitto' });
    pub = await connectAsync(broker.url, { reconnectPeriod: 0 });
    const s = (c: object) => mqttSensorSchema.parse({ type: 'mqtt', ...c });
    sensors = new MqttSensors({
      url: broker.url,
      sensors: {
        'soil-1': s({ topic: 'zigbee2mqtt/soil-1', valuePath: 'soil_moisture', timestampPath: 'last_seen' }),
        'soil-2': s({ topic: 'esphome-bed/sensor/soil_2/state' }),
        'soil-3': s({ topic: 'v3/farm@ttn/devices/+/up', valuePath: 'uplink_message.decoded_payload.moisture', timestampPath: 'received_at' }),
        rain: s({ topic: 'zigbee2mqtt/rain', valuePath: 'rain' }),
      },
    });
    await sensors.start(store);
  });

  afterAll(async () => {
    await sensors?.stop();
    await pub?.endAsync();
    await broker?.stop();
  });

  it('readings from Zigbee2MQTT, ESPHome and LoRaWAN payloads land in the store with their timestamps', async () => {
    await pub.publishAsync('zigbee2mqtt/soil-1', JSON.stringify({ soil_moisture: 24, battery: 88, last_seen: new Date(now - 60_000).toISOString() }), { qos: 1 });
    await pub.publishAsync('esphome-bed/sensor/soil_2/state', '41.5', { qos: 1 });
    await pub.publishAsync('v3/farm@ttn/devices/probe-7/up', JSON.stringify({ received_at: new Date(now).toISOString(), uplink_message: { decoded_payload: { moisture: 33.1 } } }), { qos: 1 });
    await pub.publishAsync('zigbee2mqtt/rain', JSON.stringify({ rain: false }), { qos: 1 });
    await until(() => ['soil-1', 'soil-2', 'soil-3', 'rain'].every((n) => store.get(n).state === 'fresh'), 'four readings');
    expect(store.get('soil-1')).toMatchObject({ value: 24, atMs: now - 60_000 });
    expect(store.value('soil-2')).toBe(41.5);
    expect(store.value('soil-3')).toBe(33.1);
    expect(store.value('rain')).toBe(0);
  });

  it('a payload without the value is counted, never stored; a sensor that stops publishing goes stale', async () => {
    await pub.publishAsync('zigbee2mqtt/soil-1', JSON.stringify({ battery: 87, last_seen: new Date(now).toISOString() }), { qos: 1 });
    await until(() => (sensors.bad.get('soil-1') ?? 0) === 1, 'the bad payload');
    expect(store.get('soil-1')).toMatchObject({ value: 24 });
    now += 15 * 60_000; // soil-1's reading is now 16 minutes old, the others 15
    expect(store.get('soil-1').state).toBe('stale');
    expect(store.value('soil-1')).toBeUndefined();
    expect(store.value('soil-2')).toBe(41.5);
    await pub.publishAsync('zigbee2mqtt/soil-1', JSON.stringify({ soil_moisture: 22, last_seen: new Date(now).toISOString() }), { qos: 1 });
    await until(() => store.value('soil-1') === 22, 'the next reading');
  });
});

describe.runIf(!haveMosquitto)('MQTT sensors', () => {
  it.skip('skipped: mosquitto is not installed (apt-get install mosquitto)', () => undefined);
});
