import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { mqttConfigSchema } from '../../agent/config/sections/events.js';
import { sampleEvent } from '../../agent/events/sample.js';
import { freePort, startBroker, mosquittoAvailable, subscribe, type Broker, type ReceivedMessage, type Subscription } from '../../drivers/mqtt/broker.js';
import { MqttEventSink, type MqttSinkOptions } from '../../agent/app/mqtt-sink.js';
import type { AnomalyEvent, Frame } from '../../agent/types.js';
import jpeg from 'jpeg-js';
import { version } from '../../agent/version.js';

/** package.json's version, read here independently of agent/version.ts. */
const pkgVersion = (JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const haveMosquitto = mosquittoAvailable();

async function waitFor(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(!haveMosquitto)('MQTT sink against a real mosquitto', () => {
  let tmp: string;
  let broker: Broker | undefined;
  let sub: Subscription | undefined;
  let sink: MqttEventSink | undefined;

  beforeEach(async () => {
    tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'mqtt-delivery-'));
  });
  afterEach(async () => {
    await sink?.stop();
    await sub?.close();
    await broker?.stop();
    sink = undefined;
    sub = undefined;
    broker = undefined;
    await fsp.rm(tmp, { recursive: true, force: true });
  });

  const makeSink = (url: string, extra: Partial<MqttSinkOptions> = {}) =>
    new MqttEventSink({
      mqtt: mqttConfigSchema.parse({ url, topicPrefix: 'test' }),
      outbox: { maxEvents: 10_000, maxBytes: 64 * 1024 * 1024, maxAgeDays: 30 },
      stateDir: path.join(tmp, 'state'),
      deviceId: 'cam1',
      reconnectMinMs: 50,
      reconnectMaxMs: 300,
      statsIntervalMs: 200,
      // What the agent passes (agent.ts): agent/version.ts, checked below against package.json read here.
      swVersion: version,
      ...extra,
    });

  /** Events received on test/cam1/events, parsed. */
  const collect = async (url: string, into: AnomalyEvent[], clientId?: string) =>
    subscribe(url, 'test/cam1/events', (m: ReceivedMessage) => into.push(JSON.parse(m.payload.toString()) as AnomalyEvent), clientId ? { clientId } : {});

  it('publishes retained online status and one QoS 1 message per event, in order, with the evidence', async () => {
    broker = await startBroker({ dir: path.join(tmp, 'broker') });
    expect(broker.kind).toBe('mosquitto');
    sink = makeSink(broker.url);
    await sink.start();
    sink.setStatus({ hardware: { board: 'rpi5' }, model: { name: 'ssd' }, degraded: [] });
    await sink.waitConnected();
    const got: AnomalyEvent[] = [];
    sub = await collect(broker.url, got);
    const sent = Array.from({ length: 20 }, (_, i) => sampleEvent(i));
    for (const ev of sent) await sink.emit(ev);
    await waitFor(() => got.length >= 20, 10_000, '20 events');
    expect(got.map((e) => e.id)).toEqual(sent.map((e) => e.id));
    expect(got[3]).toEqual(sent[3]);
    await sink.drained();
    expect(sink.stats().outbox.queued).toBe(0);
    expect(sink.stats().delivered).toBe(20);

    const status: ReceivedMessage[] = [];
    const s2 = await subscribe(broker.url, 'test/cam1/status', (m) => status.push(m));
    await waitFor(() => status.length > 0, 5_000, 'retained status');
    const st = JSON.parse(status[0]!.payload.toString());
    expect(status[0]!.retain).toBe(true);
    expect(st).toMatchObject({ state: 'online', device: 'cam1', version: pkgVersion, hardware: { board: 'rpi5' }, degraded: [] });
    sink.setStatus({ degraded: ['edgetpu missing: cpu'] });
    await waitFor(() => status.some((m) => m.payload.toString().includes('edgetpu missing')), 5_000, 'status update');
    // A clean stop leaves a retained offline status.
    await sink.stop();
    sink = undefined;
    await waitFor(() => status.some((m) => JSON.parse(m.payload.toString()).state === 'offline'), 5_000, 'offline status');
    expect(JSON.parse(status.find((m) => JSON.parse(m.payload.toString()).state === 'offline')!.payload.toString())).toMatchObject({ device: 'cam1', version: pkgVersion });
    await s2.close();
  });

  it('loses nothing when the broker is SIGKILLed mid-stream and restarted: ids unique, order preserved', async () => {
    broker = await startBroker({ dir: path.join(tmp, 'broker'), persistence: true });
    const got: AnomalyEvent[] = [];
    // Persistent subscriber session: the broker keeps its subscription (and queued messages) across the restart.
    sub = await collect(broker.url, got, 'collector-kill');
    // Wait until mosquitto has saved that session to its persistence file.
    await waitFor(() => {
      try {
        return fs.statSync(path.join(broker!.dir, 'mosquitto.db')).size > 0;
      } catch {
        return false;
      }
    }, 5_000, 'mosquitto persistence file');
    sink = makeSink(broker.url);
    await sink.start();
    await sink.waitConnected();
    const sent: AnomalyEvent[] = [];
    const total = 300;
    let killed = false;
    for (let i = 0; i < total; i++) {
      const ev = sampleEvent(i);
      sent.push(ev);
      await sink.emit(ev);
      if (i === 120) {
        await waitFor(() => got.length > 20, 10_000, 'some events before the kill');
        await broker.kill('SIGKILL');
        killed = true;
      }
      if (i === 200) await broker.restart();
    }
    expect(killed).toBe(true);
    await waitFor(() => new Set(got.map((e) => e.id)).size >= total, 20_000, `all ${total} events`);
    const firstSeen: string[] = [];
    const seen = new Set<string>();
    for (const e of got) {
      if (!seen.has(e.id)) firstSeen.push(e.id);
      seen.add(e.id);
    }
    expect(firstSeen).toEqual(sent.map((e) => e.id));
    expect(new Set(sent.map((e) => e.id)).size).toBe(total);
    await sink.drained();
    expect(sink.stats().connects).toBeGreaterThanOrEqual(2);
  });

  it('holds everything within its bounds while the broker is down for the whole run, and drains when it comes up', async () => {
    broker = await startBroker({ dir: path.join(tmp, 'broker'), persistence: true });
    const got: AnomalyEvent[] = [];
    sub = await collect(broker.url, got, 'collector-down');
    await broker.stop();
    sink = makeSink(broker.url, { outbox: { maxEvents: 50, maxBytes: 64 * 1024 * 1024, maxAgeDays: 30 } });
    await sink.start();
    const sent: AnomalyEvent[] = [];
    for (let i = 0; i < 80; i++) {
      const ev = sampleEvent(i);
      sent.push(ev);
      await sink.emit(ev);
    }
    const st = sink.stats();
    expect(st.connected).toBe(false);
    expect(st.outbox.queued).toBe(50);
    expect(st.outbox.dropped.events).toBe(30);
    expect(st.outbox.droppedByReason.maxEvents).toBe(30);
    expect(st.lastProblem).toBe('refused');
    await broker.restart();
    await waitFor(() => got.length >= 50, 20_000, '50 queued events after the broker came up');
    await sink.drained();
    // The oldest 30 were dropped by the bound; the newest 50 arrive in order.
    expect(got.map((e) => e.id)).toEqual(sent.slice(30).map((e) => e.id));
  });

  it('skips a corrupted tail record after a power cut, counts it, and delivers the rest', async () => {
    broker = await startBroker({ dir: path.join(tmp, 'broker') });
    const url = broker.url;
    await broker.stop();
    sink = makeSink(url);
    await sink.start();
    const sent: AnomalyEvent[] = [];
    for (let i = 0; i < 10; i++) {
      const ev = sampleEvent(i);
      sent.push(ev);
      await sink.emit(ev);
    }
    await sink.stop();
    sink = undefined;
    const outboxDir = path.join(tmp, 'state', 'outbox');
    const seg = (await fsp.readdir(outboxDir)).filter((n) => n.startsWith('seg-')).sort().at(-1)!;
    const file = path.join(outboxDir, seg);
    const buf = await fsp.readFile(file);
    // Tear the last record in half, and flip bytes inside the third one.
    const recLen = (buf.length - 16) / 10;
    const torn = buf.subarray(0, buf.length - Math.floor(recLen / 2));
    for (let k = 0; k < 8; k++) torn[16 + 2 * recLen + 60 + k] ^= 0x5a;
    await fsp.writeFile(file, torn);

    await broker.restart();
    const got: AnomalyEvent[] = [];
    sub = await collect(url, got);
    sink = makeSink(url);
    await sink.start();
    const expected = sent.filter((_, i) => i !== 2 && i !== 9).map((e) => e.id);
    await waitFor(() => got.length >= expected.length, 10_000, 'replayed events');
    expect(got.map((e) => e.id)).toEqual(expected);
    expect(sink.stats().outbox.corrupted).toBe(2);
    await sink.drained();
  });

  it('publishes a size-capped JPEG snapshot after its event, and Home Assistant discovery configs (retained)', async () => {
    broker = await startBroker({ dir: path.join(tmp, 'broker') });
    const msgs: ReceivedMessage[] = [];
    sub = await subscribe(broker.url, ['test/cam1/#', 'homeassistant/#'], (m) => msgs.push(m));
    sink = makeSink(broker.url, {
      mqtt: mqttConfigSchema.parse({ url: broker.url, topicPrefix: 'test', snapshots: { enabled: true, maxBytes: 30_000 }, homeAssistant: { discovery: true } }),
    });
    await sink.start();
    await sink.waitConnected();
    const w = 160;
    const h = 120;
    const frame: Frame = { seq: 7, captureMono: 0, captureWall: 0, ptsMs: 0, width: w, height: h, format: 'rgb24', data: new Uint8Array(w * h * 3).fill(70) };
    const ev = sampleEvent(7);
    await sink.emit(ev, { frame });
    await waitFor(() => msgs.some((m) => m.topic === `test/cam1/snapshot/${ev.id}`), 10_000, 'snapshot');
    const topics = msgs.map((m) => m.topic);
    expect(topics.indexOf('test/cam1/events')).toBeLessThan(topics.indexOf(`test/cam1/snapshot/${ev.id}`));
    const snap = msgs.find((m) => m.topic.startsWith('test/cam1/snapshot/'))!;
    expect(snap.payload.length).toBeLessThanOrEqual(30_000);
    const img = jpeg.decode(snap.payload, { useTArray: true });
    expect([img.width, img.height]).toEqual([w, h]);
    const disc = msgs.filter((m) => m.topic.startsWith('homeassistant/'));
    expect(disc.map((m) => m.topic).sort()).toEqual([
      'homeassistant/binary_sensor/cam1/connectivity/config',
      'homeassistant/event/cam1/anomaly/config',
      'homeassistant/sensor/cam1/anomaly_count/config',
      'homeassistant/sensor/cam1/last_anomaly/config',
    ]);
    // Issue 20: every config names the agent's version (package.json) as the device's and the origin's sw_version.
    for (const m of disc) {
      const cfg = JSON.parse(m.payload.toString()) as { device: { sw_version?: string }; origin?: { sw_version?: string } };
      expect(cfg.device.sw_version).toBe(pkgVersion);
      expect(cfg.origin?.sw_version).toBe(pkgVersion);
    }
    // Retained: Home Assistant starting later still finds the device.
    const late: ReceivedMessage[] = [];
    const s2 = await subscribe(broker.url, 'homeassistant/#', (m) => late.push(m));
    await waitFor(() => late.length >= 4, 5_000, 'retained discovery');
    expect(late.every((m) => m.retain)).toBe(true);
    await s2.close();
    // Home Assistant restarting announces itself; the agent answers with its discovery configs again.
    const haPub = await import('mqtt').then((m) => m.default.connectAsync(broker!.url));
    await haPub.publishAsync('homeassistant/status', 'online');
    await waitFor(() => msgs.filter((m) => m.topic.startsWith('homeassistant/') && m.topic.endsWith('/config')).length >= 8, 5_000, 'discovery republished');
    await haPub.endAsync();
    await waitFor(() => msgs.some((m) => m.topic === 'test/cam1/stats' && JSON.parse(m.payload.toString()).anomalies === 1), 10_000, 'stats with the anomaly count');
  });

  it('fails over to the next broker URL when the first is down', async () => {
    broker = await startBroker({ dir: path.join(tmp, 'broker') });
    const dead = `mqtt://127.0.0.1:${await freePort()}`;
    sink = makeSink(broker.url, { mqtt: mqttConfigSchema.parse({ url: [dead, broker.url], topicPrefix: 'test' }) });
    await sink.start();
    await sink.waitConnected(10_000);
    const got: AnomalyEvent[] = [];
    sub = await collect(broker.url, got);
    const ev = sampleEvent(1);
    await sink.emit(ev);
    await waitFor(() => got.some((e) => e.id === ev.id), 10_000, 'event via the second URL');
  });
});
