import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import jpeg from 'jpeg-js';
import { UuidV7, uuidv7, uuidv7Time } from '../../agent/events/uuidv7.js';
import { EventHub } from '../../agent/events/hub.js';
import { JsonlSink } from '../../agent/events/jsonl-sink.js';
import { encodeSnapshot } from '../../agent/events/snapshot.js';
import { SnapshotEncoder } from '../../agent/events/snapshot-encoder.js';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { sampleEvent } from '../../agent/events/sample.js';
import { applyEventOverrides, createEventHub, defaultStateDir } from '../../agent/events/registry.js';
// The MQTT transport is registered by the composition root (it names the concrete driver).
import '../../agent/app/compose.js';
import type { AgentEventSink } from '../../agent/events/types.js';
import { eventsConfigSchema } from '../../agent/config/sections/events.js';
import { discoveryMessages } from '../../drivers/mqtt/discovery.js';
import { deviceTopics } from '../../drivers/mqtt/topics.js';
import { explainMqttError } from '../../drivers/mqtt/explain.js';
import { createLogger, silentLogger } from '../../agent/log.js';
import { Outbox } from '../../agent/outbox/outbox.js';
import { PassThrough } from 'node:stream';
import type { AnomalyEvent, Frame } from '../../agent/types.js';

let tmp: string;
beforeEach(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'events-'));
});
afterEach(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

describe('UUIDv7 event ids', () => {
  it('has the RFC 9562 layout and encodes the creation time', () => {
    const t = Date.UTC(2026, 10, 28, 4, 0, 0, 123);
    const id = new UuidV7(() => t).next();
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(uuidv7Time(id)).toBe(t);
    expect(uuidv7Time('not-a-uuid')).toBeUndefined();
  });

  it('stays strictly increasing within one millisecond and when the clock steps back', () => {
    let t = 1_800_000_000_000;
    const gen = new UuidV7(() => t);
    const ids: string[] = [];
    for (let i = 0; i < 10_000; i++) ids.push(gen.next());
    t -= 5_000;
    for (let i = 0; i < 100; i++) ids.push(gen.next());
    const outOfOrder = ids.findIndex((id, i) => i > 0 && !(id > ids[i - 1]!));
    expect(outOfOrder).toBe(-1);
    expect(new Set(ids).size).toBe(ids.length);
    expect(uuidv7()).not.toBe(uuidv7());
  });
});

class FakeSink implements AgentEventSink {
  readonly got: AnomalyEvent[] = [];
  status: unknown;
  constructor(
    readonly type: string,
    private readonly fail = false,
  ) {}
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  async emit(ev: AnomalyEvent): Promise<void> {
    if (this.fail) throw new Error('disk on fire');
    this.got.push(ev);
  }
  setStatus(s: unknown): void {
    this.status = s;
  }
}

describe('EventHub', () => {
  it('hands each event to every sink; one failing sink is counted and the others continue', async () => {
    const good = new FakeSink('jsonl');
    const bad = new FakeSink('mqtt', true);
    const hub = new EventHub([bad, good], silentLogger);
    await hub.start();
    const ev = sampleEvent(1);
    const outcome = await hub.emit(ev);
    expect(outcome).toEqual({ type: 'event', status: 'queued', detail: 'failed in mqtt: disk on fire' });
    expect(good.got).toEqual([ev]);
    expect(hub.stats()).toMatchObject({ emitted: 1, failures: { mqtt: 1 } });
    hub.setStatus({ degraded: ['x'] });
    expect(good.status).toEqual({ degraded: ['x'] });
    expect(hub.publisher()).toBeUndefined();
    await hub.stop();
  });

  it('reports the real outcome of a real outbox: refused with its reason, one outbox line and no stack; degraded then recovered', async () => {
    const lines: Array<{ msg: string; component?: string; err?: unknown }> = [];
    const stream = new PassThrough();
    stream.on('data', (b: Buffer) => lines.push(...b.toString().trim().split('\n').map((l) => JSON.parse(l) as (typeof lines)[number])));
    const log = createLogger({ level: 'info', stream, pretty: false });
    // The state folder is a file: the outbox cannot open (ENOTDIR) and refuses every event.
    const file = path.join(tmp, 'state-file');
    await fsp.writeFile(file, 'x');
    const outbox = new Outbox({ dir: path.join(file, 'outbox'), maxEvents: 100, maxBytes: 1 << 20, maxAgeDays: 1, log, reopenMs: 50 });
    const sink: AgentEventSink = {
      type: 'mqtt',
      start: () => outbox.start(),
      stop: () => outbox.stop(),
      emit: async (ev) => void (await outbox.append('event', ev.id, Buffer.from(JSON.stringify(ev)))),
      onDurabilityChange: (fn) => void outbox.onDurabilityChange((d) => fn(d.durable ? null : d.reason)),
    };
    const hub = new EventHub([sink], log);
    const degraded: Array<string | null> = [];
    hub.onDegraded((r) => degraded.push(r));
    await hub.start();
    const outcomes = [];
    for (let i = 0; i < 20; i++) outcomes.push(await hub.emit(sampleEvent(i)));
    expect(outcomes.every((o) => o.status === 'refused' && o.reason === 'not-durable')).toBe(true);
    expect(outcomes[0]!.detail).toMatch(/^mqtt: refused \(not-durable\): events not durable \(a path component is a file/);
    expect(hub.stats()).toMatchObject({ emitted: 20, failures: {}, refused: { mqtt: 20 } });
    await new Promise((r) => setTimeout(r, 20));
    // One line from the outbox for the refusals, none from the hub, no stack anywhere.
    expect(lines.filter((l) => /not queued/.test(l.msg))).toHaveLength(1);
    expect(lines.filter((l) => l.component === 'events')).toHaveLength(0);
    expect(lines.some((l) => l.err !== undefined)).toBe(false);
    expect(degraded).toEqual([expect.stringMatching(/^events not durable \(a path component is a file, not a folder: .*\(ENOTDIR\)\)$/)]);
    // The folder becomes usable: the outbox retries by itself, reports durable, and events are queued again.
    await fsp.rm(file);
    await fsp.mkdir(file);
    for (let i = 0; i < 100 && degraded.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    expect(degraded[1]).toBeNull();
    expect((await hub.emit(sampleEvent(99))).status).toBe('queued');
    await hub.stop();
  });

  it('logs a failing sink once a minute per kind of failure, not once per event', async () => {
    const lines: Array<{ msg: string; sinceLastLine?: number }> = [];
    const stream = new PassThrough();
    stream.on('data', (b: Buffer) => lines.push(...b.toString().trim().split('\n').map((l) => JSON.parse(l) as (typeof lines)[number])));
    const hub = new EventHub([new FakeSink('mqtt', true)], createLogger({ level: 'info', stream, pretty: false }));
    for (let i = 0; i < 50; i++) expect((await hub.emit(sampleEvent(i))).status).toBe('failed');
    await new Promise((r) => setTimeout(r, 20));
    expect(lines.filter((l) => /event sink mqtt failed/.test(l.msg))).toHaveLength(1);
    expect(hub.stats()).toMatchObject({ failures: { mqtt: 50 } });
  });

  it('reports failed when no sink queued the event, without rejecting', async () => {
    const hub = new EventHub([new FakeSink('mqtt', true)], silentLogger);
    expect((await hub.emit(sampleEvent(1))).status).toBe('failed');
    expect((await new EventHub([], silentLogger).emit(sampleEvent(2))).detail).toBe('no event sink configured');
  });
});

describe('JsonlSink', () => {
  it('appends one JSON event per line, fsync before resolving', async () => {
    const file = path.join(tmp, 'sub', 'events.jsonl');
    const sink = new JsonlSink({ file });
    await sink.start();
    const evs = Array.from({ length: 50 }, (_, i) => sampleEvent(i));
    await Promise.all(evs.map((e) => sink.emit(e)));
    await sink.stop();
    const lines = (await fsp.readFile(file, 'utf8')).trim().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as AnomalyEvent).id)).toEqual(evs.map((e) => e.id));
    // Appends on reopen.
    const again = new JsonlSink({ file });
    await again.start();
    await again.emit(sampleEvent(99));
    await again.stop();
    expect((await fsp.readFile(file, 'utf8')).trim().split('\n')).toHaveLength(51);
  });

  it('names the path when the file cannot be opened', async () => {
    await fsp.writeFile(path.join(tmp, 'afile'), 'x');
    const sink = new JsonlSink({ file: path.join(tmp, 'afile', 'events.jsonl') });
    await expect(sink.start()).rejects.toThrow(/cannot open the events file .*afile\/events\.jsonl/);
  });
});

describe('snapshots', () => {
  const frame = (w: number, h: number): Frame => {
    const data = new Uint8Array(w * h * 3);
    for (let i = 0; i < w * h; i++) {
      data[i * 3] = 40;
      data[i * 3 + 1] = 90 + ((i % w) % 50);
      data[i * 3 + 2] = 40;
    }
    return { seq: 1, captureMono: 0, captureWall: 0, ptsMs: 0, width: w, height: h, format: 'rgb24', data };
  };

  it('draws the box and fits the size cap', () => {
    const snap = encodeSnapshot(frame(320, 240), [{ box: [0.25, 0.25, 0.75, 0.75] }], 60_000)!;
    expect(snap.jpeg.length).toBeLessThanOrEqual(60_000);
    const img = jpeg.decode(snap.jpeg, { useTArray: true });
    expect([img.width, img.height]).toEqual([320, 240]);
    const px = (x: number, y: number) => [img.data[(y * 320 + x) * 4]!, img.data[(y * 320 + x) * 4 + 1]!];
    // On the left edge of the box (x = 80): red; inside and outside: the green picture.
    const [r, g] = px(81, 120);
    expect(r).toBeGreaterThan(180);
    expect(g).toBeLessThan(100);
    expect(px(160, 120)[0]).toBeLessThan(90);
    expect(px(20, 20)[0]).toBeLessThan(90);
  });

  it('a gbrp frame (planar G, B, R) gives the same snapshot as the same picture packed', () => {
    const f = frame(64, 48);
    for (let i = 0; i < f.data.length; i++) f.data[i] = (i * 2654435761) >>> 24;
    const n = 64 * 48;
    const planes = new Uint8Array(n * 3);
    for (let i = 0; i < n; i++) {
      planes[i] = f.data[i * 3 + 1]!;
      planes[n + i] = f.data[i * 3 + 2]!;
      planes[2 * n + i] = f.data[i * 3]!;
    }
    const a = encodeSnapshot(f, [{ box: [0.1, 0.1, 0.5, 0.5] }], 1_000_000)!;
    const b = encodeSnapshot({ ...f, format: 'gbrp', data: planes }, [{ box: [0.1, 0.1, 0.5, 0.5] }], 1_000_000)!;
    expect(Buffer.from(b.jpeg).equals(Buffer.from(a.jpeg))).toBe(true);
  });

  it('lowers quality, then halves the picture, and gives up when nothing fits', () => {
    const f = frame(128, 96);
    // Noise compresses badly: forces the lower quality steps.
    for (let i = 0; i < f.data.length; i++) f.data[i] = (i * 2654435761) >>> 24;
    const big = encodeSnapshot(f, [], 10_000_000)!;
    expect(big.quality).toBe(80);
    const small = encodeSnapshot(f, [], Math.floor(big.jpeg.length / 3))!;
    expect(small.jpeg.length).toBeLessThanOrEqual(big.jpeg.length / 3);
    expect(small.quality < 80 || small.width < 128).toBe(true);
    expect(encodeSnapshot(frame(40, 40), [], 300)).toBeUndefined();
  });

  const distWorker = fileURLToPath(new URL('../../dist/agent/events/snapshot-worker.js', import.meta.url));
  it.skipIf(!existsSync(distWorker))('encodes on a worker thread (dist build), leaving the caller frame intact', async () => {
    const enc = new SnapshotEncoder(distWorker);
    expect(enc.threaded()).toBe(true);
    const f = frame(160, 120);
    const before = Buffer.from(f.data);
    const [a, b] = await Promise.all([enc.encode(f, [{ box: [0.1, 0.1, 0.5, 0.5] }], 50_000), enc.encode(f, [], 50_000)]);
    expect(Buffer.from(f.data).equals(before)).toBe(true);
    expect(jpeg.decode(a!.jpeg).width).toBe(160);
    expect(b!.jpeg.equals(a!.jpeg)).toBe(false);
    await enc.close();
    // Without the compiled worker (TypeScript sources): inline, same result.
    const inline = new SnapshotEncoder('/nonexistent/snapshot-worker.js');
    expect(inline.threaded()).toBe(false);
    expect((await inline.encode(f, [{ box: [0.1, 0.1, 0.5, 0.5] }], 50_000))!.jpeg.equals(a!.jpeg)).toBe(true);
  });

  it('crops the letterbox so boxes land on the source picture', () => {
    const snap = encodeSnapshot(frame(320, 320), [{ box: [0, 0, 1, 1] }], 100_000, {
      srcWidth: 640, srcHeight: 480, width: 320, height: 320, padX: 0, padY: 40, contentWidth: 320, contentHeight: 240,
    })!;
    expect([snap.width, snap.height]).toEqual([320, 240]);
  });
});

describe('Home Assistant discovery', () => {
  it('announces connectivity, an anomaly event entity and two sensors under one device', () => {
    const msgs = discoveryMessages('homeassistant', deviceTopics('edge-agent', 'cam1'), { id: 'cam1', name: 'Gate camera', swVersion: '0.1.0' });
    expect(msgs.map((m) => m.topic)).toEqual([
      'homeassistant/binary_sensor/cam1/connectivity/config',
      'homeassistant/event/cam1/anomaly/config',
      'homeassistant/sensor/cam1/last_anomaly/config',
      'homeassistant/sensor/cam1/anomaly_count/config',
    ]);
    const cfgs = msgs.map((m) => JSON.parse(m.payload) as Record<string, unknown>);
    expect(cfgs[0]).toMatchObject({ device_class: 'connectivity', state_topic: 'edge-agent/cam1/status', payload_on: 'online', payload_off: 'offline', unique_id: 'cam1_connectivity' });
    expect(cfgs[1]).toMatchObject({ state_topic: 'edge-agent/cam1/events', event_types: ['anomaly'] });
    expect(String(cfgs[1]!.value_template)).toContain('"event_type": "anomaly"');
    expect(cfgs[3]).toMatchObject({ state_topic: 'edge-agent/cam1/stats', state_class: 'total_increasing' });
    for (const c of cfgs) expect(c.device).toEqual({ identifiers: ['edge-agent-cam1'], name: 'Gate camera', manufacturer: 'edge-agent', sw_version: '0.1.0' });
  });
});

describe('MQTT error explanations', () => {
  const ctx = { clientId: 'edge-agent-cam1', ca: '/etc/edge-agent/ca.crt' };
  it.each([
    [{ code: 'ECONNREFUSED' }, 'refused', /nothing listens/],
    [{ code: 'ENOTFOUND' }, 'dns', /cannot resolve the MQTT broker host "broker.lan"/],
    [{ code: 4 }, 'auth', /user name or password/],
    [{ code: 5 }, 'auth', /not authorized/],
    [{ code: 'SELF_SIGNED_CERT_IN_CHAIN' }, 'tls-ca', /not trusted/],
    [{ code: 'ERR_TLS_CERT_ALTNAME_INVALID' }, 'tls-name', /does not name "broker.lan"/],
    [{ code: 'CERT_HAS_EXPIRED' }, 'tls-date', /expired/],
  ])('%o -> %s', (err, kind, re) => {
    const p = explainMqttError(Object.assign(new Error('x'), err), 'mqtts://broker.lan:8883', ctx);
    expect(p.kind).toBe(kind);
    expect(p.message).toMatch(re);
    expect(p.fix.length).toBeGreaterThan(10);
  });
});

describe('sink registry', () => {
  const cfg = eventsConfigSchema.parse({});
  it('applies --mqtt and --events-out over the config', () => {
    const eff = applyEventOverrides(eventsConfigSchema.parse({ mqtt: { url: 'mqtt://a:1883', topicPrefix: 'farm' } }), { mqttUrl: 'mqtts://b:8883', eventsOut: '/tmp/e.jsonl' });
    expect(eff.mqtt).toMatchObject({ url: 'mqtts://b:8883', topicPrefix: 'farm', keepaliveS: 30 });
    expect(eff.jsonl).toBe('/tmp/e.jsonl');
    expect(() => applyEventOverrides(cfg, { mqttUrl: 'http://x' })).toThrow(/--mqtt http:\/\/x: not an mqtt/);
  });

  it('creates only the configured sinks', async () => {
    const hub = await createEventHub(cfg, { deviceId: 'cam1', stateDir: tmp, log: silentLogger }, { eventsOut: path.join(tmp, 'e.jsonl') });
    expect(hub.sinks.map((s) => s.type)).toEqual(['jsonl']);
    const both = await createEventHub(cfg, { deviceId: 'cam1', stateDir: tmp, log: silentLogger }, { eventsOut: path.join(tmp, 'e.jsonl'), mqttUrl: 'mqtt://127.0.0.1:1' });
    expect(both.sinks.map((s) => s.type)).toEqual(['jsonl', 'mqtt']);
  });

  it('picks the state folder: systemd StateDirectory, the service default, else ./state', () => {
    expect(defaultStateDir({ STATE_DIRECTORY: '/var/lib/edge-agent:/x' }, '/home/u')).toBe('/var/lib/edge-agent');
    expect(defaultStateDir({ INVOCATION_ID: 'abc' }, '/home/u')).toBe('/var/lib/edge-agent');
    expect(defaultStateDir({}, '/home/u')).toBe('/home/u/state');
  });
});
