import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import { mqttConfigSchema } from '../../agent/config/sections/events.js';
import { sampleEvent } from '../../agent/events/sample.js';
import { Outbox } from '../../agent/outbox/outbox.js';
import { MqttEventSink } from '../../agent/app/mqtt-sink.js';
import { composeAgent } from '../../agent/app/compose.js';
import { camerasDemoConfig } from '../../agent/cli/commands/demo-cameras.js';
import { loadConfigFile } from '../../agent/config/load.js';
import { silentLogger } from '../../agent/log.js';
import { DEMO_SEED, demoConfigPath, demoSceneDir, packageRoot } from '../../agent/paths.js';
import { ensureScene } from '../../scripts/demo-scene/index.js';
import { freePort, mosquittoAvailable, startBroker, subscribe, type Broker, type ReceivedMessage, type Subscription } from '../../drivers/mqtt/broker.js';
import type { AnomalyEvent, Frame } from '../../agent/types.js';

/**
 * Events carry their camera upstream (issue #17): a camera under `cameras:` publishes on
 * `<prefix>/<device>/<camera>/events` and `.../<camera>/snapshot/<id>`; the single `source:` form (no camera, or
 * "default") keeps `<prefix>/<device>/events`. The camera travels through the outbox, so what was queued while the
 * broker was away, and what an older version queued (no camera), goes where it belongs after a restart.
 * Real mosquitto, real outbox files; the agent runs use ffmpeg and ONNX Runtime on the demo model.
 */
const haveMosquitto = mosquittoAvailable();
const haveModel = existsSync(path.join(packageRoot(), 'models', 'conveyor-demo', 'manifest.json'));

async function waitFor(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function greenFrame(w: number, h: number): Frame {
  const data = new Uint8Array(w * h * 3).fill(90);
  return { seq: 1, captureMono: 1, captureWall: Date.now(), ptsMs: 1, width: w, height: h, format: 'rgb24', data, release: () => undefined };
}

describe.skipIf(!haveMosquitto)('MQTT topics per camera (real mosquitto)', () => {
  let tmp: string;
  let broker: Broker | undefined;
  let sub: Subscription | undefined;
  let sink: MqttEventSink | undefined;
  const got: ReceivedMessage[] = [];

  afterEach(async () => {
    await sink?.stop();
    await sub?.close();
    await broker?.stop();
    sink = undefined;
    sub = undefined;
    broker = undefined;
    got.length = 0;
    await fsp.rm(tmp, { recursive: true, force: true });
  });

  const makeSink = (url: string, delivered: string[] = []) =>
    new MqttEventSink({
      mqtt: mqttConfigSchema.parse({ url, topicPrefix: 'farm', snapshots: { enabled: true, maxBytes: 100_000 } }),
      outbox: { maxEvents: 1000, maxBytes: 16 * 1024 * 1024, maxAgeDays: 1 },
      stateDir: path.join(tmp, 'state'),
      deviceId: 'dev1',
      reconnectMinMs: 50,
      reconnectMaxMs: 200,
      onDelivered: (kind, key) => kind === 'event' && delivered.push(key),
    });

  const topicOf = (id: string) => got.find((m) => m.topic.endsWith('/events') && (JSON.parse(m.payload.toString()) as AnomalyEvent).id === id)?.topic;

  it('events and snapshots of a named camera go to its topics; no camera or "default" keep the device topics', async () => {
    tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'mqtt-cams-'));
    broker = await startBroker({ dir: path.join(tmp, 'broker') });
    sub = await subscribe(broker.url, 'farm/dev1/#', (m) => {
      if (!m.topic.endsWith('/status') && !m.topic.endsWith('/stats')) got.push(m);
    });
    const delivered: string[] = [];
    sink = makeSink(broker.url, delivered);
    await sink.start();
    const gate = sampleEvent(1, { device: 'dev1', camera: 'gate' });
    const yard = sampleEvent(2, { device: 'dev1', camera: 'yard' });
    const single = sampleEvent(3, { device: 'dev1' });
    const dflt = sampleEvent(4, { device: 'dev1', camera: 'default' });
    for (const ev of [gate, yard, single, dflt]) expect(await sink.emit(ev, { frame: greenFrame(64, 48), snapshot: true })).toEqual({ status: 'queued' });
    await waitFor(() => got.length >= 8, 10_000, 'four events and four snapshots');
    await sink.drained(10_000);
    expect(topicOf(gate.id)).toBe('farm/dev1/gate/events');
    expect(topicOf(yard.id)).toBe('farm/dev1/yard/events');
    expect(topicOf(single.id)).toBe('farm/dev1/events');
    expect(topicOf(dflt.id)).toBe('farm/dev1/events');
    const snapTopics = got.filter((m) => m.topic.includes('/snapshot/')).map((m) => m.topic).sort();
    expect(snapTopics).toEqual([`farm/dev1/gate/snapshot/${gate.id}`, `farm/dev1/snapshot/${dflt.id}`, `farm/dev1/snapshot/${single.id}`, `farm/dev1/yard/snapshot/${yard.id}`].sort());
    // The payload is the event as emitted (its camera field included); the delivery report names the bare event id.
    const gateMsg = got.find((m) => m.topic === 'farm/dev1/gate/events')!;
    expect((JSON.parse(gateMsg.payload.toString()) as AnomalyEvent).camera).toBe('gate');
    expect(delivered.sort()).toEqual([gate.id, yard.id, single.id, dflt.id].sort());
    expect(sink.stats()).toMatchObject({ emitted: 4, delivered: 8, snapshots: { queued: 4, tooLarge: 0, failed: 0 }, outbox: { queued: 0 } });
  }, 30_000);

  it('Home Assistant discovery announces a camera\'s anomaly entities on its events topic once the camera sends', async () => {
    tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'mqtt-cams-'));
    broker = await startBroker({ dir: path.join(tmp, 'broker') });
    sink = new MqttEventSink({
      mqtt: mqttConfigSchema.parse({ url: broker.url, topicPrefix: 'farm', homeAssistant: { discovery: true } }),
      outbox: { maxEvents: 1000, maxBytes: 16 * 1024 * 1024, maxAgeDays: 1 },
      stateDir: path.join(tmp, 'state'),
      deviceId: 'dev1',
    });
    await sink.start();
    await sink.emit(sampleEvent(1, { device: 'dev1', camera: 'gate' }));
    await sink.drained(10_000);
    // A subscriber arriving later gets the retained configs: the device's four and the camera's two.
    const configs = new Map<string, Record<string, unknown>>();
    sub = await subscribe(broker.url, 'homeassistant/#', (m) => m.retain && configs.set(m.topic, JSON.parse(m.payload.toString()) as Record<string, unknown>));
    await waitFor(() => configs.size >= 6, 5_000, 'retained discovery configs');
    expect([...configs.keys()].sort()).toEqual(
      ['binary_sensor/dev1/connectivity', 'event/dev1/anomaly', 'sensor/dev1/last_anomaly', 'sensor/dev1/anomaly_count', 'event/dev1/anomaly_gate', 'sensor/dev1/last_anomaly_gate'].map((t) => `homeassistant/${t}/config`).sort(),
    );
    expect(configs.get('homeassistant/event/dev1/anomaly_gate/config')).toMatchObject({ name: 'Anomaly (gate)', unique_id: 'dev1_anomaly_gate', state_topic: 'farm/dev1/gate/events' });
    expect(configs.get('homeassistant/sensor/dev1/last_anomaly_gate/config')).toMatchObject({ state_topic: 'farm/dev1/gate/events', json_attributes_topic: 'farm/dev1/gate/events' });
    expect(configs.get('homeassistant/event/dev1/anomaly/config')).toMatchObject({ state_topic: 'farm/dev1/events' });
  }, 30_000);

  it('the camera is kept in the outbox: queued while the broker is away, sent to its camera topic by the next run', async () => {
    tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'mqtt-cams-'));
    // First run: nothing listens on the port, so everything stays queued on disk.
    const first = makeSink(`mqtt://127.0.0.1:${await freePort()}`);
    await first.start();
    const gate = sampleEvent(1, { device: 'dev1', camera: 'gate' });
    const single = sampleEvent(2, { device: 'dev1' });
    await first.emit(gate);
    await first.emit(single);
    expect(first.stats().outbox.queued).toBe(2);
    await first.stop();
    // Second run, broker up: the replayed entries go where their camera's go.
    broker = await startBroker({ dir: path.join(tmp, 'broker') });
    sub = await subscribe(broker.url, 'farm/dev1/#', (m) => m.topic.endsWith('/events') && got.push(m));
    sink = makeSink(broker.url);
    await sink.start();
    await waitFor(() => got.length >= 2, 10_000, 'the replayed events');
    expect(topicOf(gate.id)).toBe('farm/dev1/gate/events');
    expect(topicOf(single.id)).toBe('farm/dev1/events');
    expect(sink.stats().outbox.replayed).toBe(2);
  }, 30_000);

  it('an outbox written before cameras existed (entries keyed by the event id alone) is read and sent to the device topic', async () => {
    tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'mqtt-cams-'));
    // What the earlier sink wrote: kind, key = event id, payload = the event JSON, in the same journal format.
    const old = new Outbox({ dir: path.join(tmp, 'state', 'outbox'), maxEvents: 100, maxBytes: 1 << 20, maxAgeDays: 1 });
    await old.start();
    const evs = [sampleEvent(1, { device: 'dev1' }), sampleEvent(2, { device: 'dev1' })];
    for (const ev of evs) expect((await old.offer('event', ev.id, Buffer.from(JSON.stringify(ev)))).status).toBe('queued');
    await old.stop();
    broker = await startBroker({ dir: path.join(tmp, 'broker') });
    sub = await subscribe(broker.url, 'farm/dev1/#', (m) => m.topic.endsWith('/events') && got.push(m));
    const delivered: string[] = [];
    sink = makeSink(broker.url, delivered);
    await sink.start();
    await waitFor(() => got.length >= 2, 10_000, 'the old entries');
    expect(got.map((m) => m.topic)).toEqual(['farm/dev1/events', 'farm/dev1/events']);
    expect(got.map((m) => (JSON.parse(m.payload.toString()) as AnomalyEvent).id)).toEqual(evs.map((e) => e.id));
    await sink.drained(10_000);
    expect(delivered).toEqual(evs.map((e) => e.id));
  }, 30_000);
});

describe.skipIf(!haveMosquitto || !haveModel)('the agent publishes per camera (real mosquitto, ffmpeg, ONNX Runtime, demo model)', () => {
  it('a 2-camera config publishes on <device>/cam1/events and <device>/cam2/events; a single-source config on <device>/events', async () => {
    const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'mqtt-cams-agent-'));
    const broker = await startBroker({ dir: path.join(tmp, 'broker') });
    const got: Array<{ topic: string; ev: AnomalyEvent }> = [];
    const sub = await subscribe(broker.url, 'edge-agent/conveyor-demo/#', (m) => {
      if (m.topic.endsWith('/events')) got.push({ topic: m.topic, ev: JSON.parse(m.payload.toString()) as AnomalyEvent });
    });
    try {
      const { video } = await ensureScene(demoSceneDir(), DEMO_SEED);
      const run = async (file: string, stateDir: string) => {
        const agent = composeAgent({ loaded: loadConfigFile(file), log: silentLogger, mode: 'lossless', stateDir, simulateOutputs: path.join(stateDir, 'outputs.jsonl'), mqttUrl: broker.url });
        await agent.start();
        try {
          const s = await agent.run();
          const mqtt = agent.events()?.sinks.find((x) => x.type === 'mqtt') as MqttEventSink | undefined;
          await mqtt?.drained(15_000);
          return s;
        } finally {
          await agent.stop(3_000);
        }
      };

      // Two cameras (cam1, cam2) on the demo clip, read once.
      const camsDir = path.join(tmp, 'cams');
      await fsp.mkdir(camsDir, { recursive: true });
      const two = await run(camerasDemoConfig(2, video, camsDir), camsDir);
      expect(two.cameras.cam1!.events).toBeGreaterThan(0);
      expect(two.cameras.cam2!.events).toBeGreaterThan(0);
      await waitFor(() => got.length >= two.cameras.cam1!.events + two.cameras.cam2!.events, 10_000, 'the two cameras events');
      const byTopic = (t: string) => got.filter((g) => g.topic === t);
      expect(byTopic('edge-agent/conveyor-demo/cam1/events').length).toBe(two.cameras.cam1!.events);
      expect(byTopic('edge-agent/conveyor-demo/cam2/events').length).toBe(two.cameras.cam2!.events);
      expect(byTopic('edge-agent/conveyor-demo/cam1/events').every((g) => g.ev.camera === 'cam1')).toBe(true);
      expect(byTopic('edge-agent/conveyor-demo/cam2/events').every((g) => g.ev.camera === 'cam2')).toBe(true);
      expect(byTopic('edge-agent/conveyor-demo/events')).toEqual([]);

      // The single `source:` form: the device topic, as before cameras existed.
      got.length = 0;
      const oneDir = path.join(tmp, 'one');
      await fsp.mkdir(oneDir, { recursive: true });
      const cfg = parse(readFileSync(demoConfigPath(), 'utf8')) as { source: Record<string, unknown>; model: { manifest: string } };
      cfg.source = { ...cfg.source, path: video, pace: 'fast', loop: false };
      cfg.model.manifest = path.join(packageRoot(), 'models', 'conveyor-demo', 'manifest.json');
      writeFileSync(path.join(oneDir, 'config.yaml'), stringify(cfg));
      const one = await run(path.join(oneDir, 'config.yaml'), oneDir);
      expect(one.events).toBeGreaterThan(0);
      await waitFor(() => got.length >= one.events, 10_000, 'the single camera events');
      expect(got.map((g) => g.topic)).toEqual(got.map(() => 'edge-agent/conveyor-demo/events'));
      expect(got.length).toBe(one.events);
      expect(got.every((g) => g.ev.camera === undefined)).toBe(true);
    } finally {
      await sub.close();
      await broker.stop();
      await fsp.rm(tmp, { recursive: true, force: true });
    }
  }, 180_000);
});
