import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectAsync, type MqttClient } from 'mqtt';
import { OutputBank } from '../../agent/actuators/output-bank.js';
import { outputSchema } from '../../agent/config/sections/outputs.js';
import type { PublishFn } from '../../agent/actuators/actuator.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const built = existsSync(join(repo, 'dist', 'agent', 'actuators', 'worker.js'));
const mosquittoBin = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) => existsSync(p));

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
    s.on('error', rej);
  });
}

let broker: ChildProcess;
let url: string;
let dir: string;
let sub: MqttClient;
let pub: MqttClient;
const got: Array<{ topic: string; payload: string; qos: number; retain: boolean }> = [];

describe.skipIf(!mosquittoBin || !built)('mqtt relay output against a real mosquitto', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mqtt-relay-'));
    const port = await freePort();
    writeFileSync(join(dir, 'mosquitto.conf'), `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
    broker = spawn(mosquittoBin!, ['-c', join(dir, 'mosquitto.conf')], { stdio: 'ignore' });
    url = `mqtt://127.0.0.1:${port}`;
    for (let i = 0; ; i++) {
      try {
        sub = await connectAsync(url, { reconnectPeriod: 0, connectTimeout: 1000 });
        break;
      } catch (err) {
        if (i > 50) throw err;
        await sleep(100);
      }
    }
    await sub.subscribeAsync('cmnd/#', { qos: 1 });
    sub.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain }));
    pub = await connectAsync(url, { reconnectPeriod: 0 });
  });

  afterAll(async () => {
    await sub?.endAsync();
    await pub?.endAsync();
    broker?.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });

  it('publishes OFF at start, ON/OFF around a hold (from the worker thread), and OFF at stop, at QoS 1', async () => {
    const publish: PublishFn = async (topic, payload, opts) => {
      await pub.publishAsync(topic, payload, opts);
    };
    const outputs = {
      pump: outputSchema.parse({ driver: { type: 'mqtt', topic: 'cmnd/pump/POWER' }, maxOnMs: 5000 }),
      light: outputSchema.parse({ driver: { type: 'mqtt', topic: 'cmnd/light/POWER', payloadOn: 'on', payloadOff: 'off', retain: true } }),
    };
    const bank = new OutputBank(outputs, { publish });
    await bank.start();
    const o = await bank.hold('pump', { durationMs: 300, reason: 'fill' });
    expect(o.status).toBe('on');
    await sleep(600);
    await bank.hold('light', { durationMs: 100, reason: 'flash' });
    await sleep(400);
    await bank.stop();
    await sleep(300);
    const pump = got.filter((m) => m.topic === 'cmnd/pump/POWER').map((m) => m.payload);
    expect(pump).toEqual(['OFF', 'ON', 'OFF', 'OFF']);
    const light = got.filter((m) => m.topic === 'cmnd/light/POWER');
    expect(light.map((m) => m.payload)).toEqual(['off', 'on', 'off', 'off']);
    expect(got.every((m) => m.qos === 1)).toBe(true);
    // A retained command is kept by the broker: a relay that reconnects later still gets the last (safe) state.
    const late = await connectAsync(url, { reconnectPeriod: 0 });
    const retained = new Promise<string>((res) => late.on('message', (_t, p) => res(p.toString())));
    await late.subscribeAsync('cmnd/light/POWER', { qos: 1 });
    expect(await retained).toBe('off');
    await late.endAsync();
  });

  it('an mqtt output without an MQTT connection is a clear error at start', async () => {
    const bank = new OutputBank({ pump: outputSchema.parse({ driver: { type: 'mqtt', topic: 'cmnd/pump/POWER' } }) }, {});
    await expect(bank.start()).rejects.toThrow(/output "pump": an mqtt output needs the agent's MQTT connection/);
  });
});
