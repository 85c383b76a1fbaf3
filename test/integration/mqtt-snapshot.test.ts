import { afterEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import jpeg from 'jpeg-js';
import { mqttConfigSchema } from '../../agent/config/sections/events.js';
import { sampleEvent } from '../../agent/events/sample.js';
import { mosquittoAvailable, startBroker, subscribe, type Broker, type Subscription } from '../../drivers/mqtt/broker.js';
import type { Frame } from '../../agent/types.js';

// The compiled sink, so the snapshot is encoded on the real worker thread (dist/agent/events/snapshot-worker.js);
// from the TypeScript sources the encoder would fall back to encoding inline.
const distSink = fileURLToPath(new URL('../../dist/agent/app/mqtt-sink.js', import.meta.url));
const ready = mosquittoAvailable() && existsSync(distSink);

/** A frame as a source hands it over: pixels plus a release() callback (which cannot cross to a worker). */
function sourceFrame(w: number, h: number): Frame & { released: number } {
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) {
    data[i * 3] = 30;
    data[i * 3 + 1] = 140;
    data[i * 3 + 2] = 30;
  }
  const f = { seq: 7, captureMono: 1, captureWall: Date.now(), ptsMs: 1, width: w, height: h, format: 'rgb24' as const, data, released: 0, release: () => void f.released++ };
  return f;
}

async function waitFor(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(!ready)('snapshots through a real broker (mosquitto, compiled worker)', () => {
  let tmp: string;
  let broker: Broker | undefined;
  let sub: Subscription | undefined;
  let sink: { stop(): Promise<void> } | undefined;
  afterEach(async () => {
    await sink?.stop();
    await sub?.close();
    await broker?.stop();
    sink = undefined;
    sub = undefined;
    broker = undefined;
    await fsp.rm(tmp, { recursive: true, force: true });
  });

  it('an event with evidence arrives with a JPEG of the frame that decodes, boxes drawn, on the worker thread', async () => {
    tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'mqtt-snap-'));
    broker = await startBroker({ dir: path.join(tmp, 'broker') });
    const snaps: Array<{ topic: string; payload: Buffer }> = [];
    const events: string[] = [];
    sub = await subscribe(broker.url, ['edge-agent/cam/snapshot/#', 'edge-agent/cam/events'], (m) => (m.topic.endsWith('/events') ? events.push(m.payload.toString()) : snaps.push(m)));
    const { MqttEventSink } = (await import(distSink)) as typeof import('../../agent/app/mqtt-sink.js');
    const s = new MqttEventSink({
      mqtt: mqttConfigSchema.parse({ url: broker.url, snapshots: { enabled: true, maxBytes: 100_000 } }),
      outbox: { maxEvents: 1000, maxBytes: 16 * 1024 * 1024, maxAgeDays: 1 },
      stateDir: path.join(tmp, 'state'),
      deviceId: 'cam',
    });
    sink = s;
    await s.start();
    const ev = sampleEvent(1, { device: 'cam', bbox: [0.25, 0.25, 0.75, 0.75] });
    const frame = sourceFrame(320, 240);
    await s.emit(ev, { frame });
    await waitFor(() => snaps.length >= 1 && events.length >= 1, 10_000, 'the event and its snapshot');
    const st = s.stats();
    expect(st.snapshots).toEqual({ queued: 1, tooLarge: 0, failed: 0 });
    expect(snaps[0]!.topic).toBe(`edge-agent/cam/snapshot/${ev.id}`);
    const img = jpeg.decode(snaps[0]!.payload, { useTArray: true });
    expect([img.width, img.height]).toEqual([320, 240]);
    const px = (x: number, y: number) => [img.data[(y * 320 + x) * 4]!, img.data[(y * 320 + x) * 4 + 1]!];
    // The box's left edge (x = 80) is drawn red on the green picture; the middle stays green.
    expect(px(81, 120)[0]).toBeGreaterThan(180);
    expect(px(160, 120)[1]).toBeGreaterThan(100);
    expect(px(160, 120)[0]).toBeLessThan(90);
    // The caller's frame is untouched (the sink copied the pixels) and was not released by the sink.
    expect(frame.data[1]).toBe(140);
    expect(frame.released).toBe(0);
  });

  it('an event whose rule says snapshot: false sends no snapshot, though the frame is handed over', async () => {
    tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'mqtt-snap-'));
    broker = await startBroker({ dir: path.join(tmp, 'broker') });
    const snaps: string[] = [];
    const events: string[] = [];
    sub = await subscribe(broker.url, ['edge-agent/cam/snapshot/#', 'edge-agent/cam/events'], (m) => (m.topic.endsWith('/events') ? events.push(m.topic) : snaps.push(m.topic)));
    const { MqttEventSink } = (await import(distSink)) as typeof import('../../agent/app/mqtt-sink.js');
    const s = new MqttEventSink({
      mqtt: mqttConfigSchema.parse({ url: broker.url, snapshots: { enabled: true, maxBytes: 100_000 } }),
      outbox: { maxEvents: 1000, maxBytes: 16 * 1024 * 1024, maxAgeDays: 1 },
      stateDir: path.join(tmp, 'state'),
      deviceId: 'cam',
    });
    sink = s;
    await s.start();
    await s.emit(sampleEvent(2, { device: 'cam' }), { frame: sourceFrame(64, 48), snapshot: false });
    await s.emit(sampleEvent(3, { device: 'cam' }));
    await waitFor(() => events.length >= 2, 20_000, 'the events');
    await s.stop();
    sink = undefined;
    expect(snaps).toEqual([]);
    expect(s.stats().snapshots).toEqual({ queued: 0, tooLarge: 0, failed: 0 });
  });
});

if (!ready) {
  describe('snapshots through a real broker', () => {
    it.skip('skipped: needs mosquitto and the dist build (npm run build)', () => undefined);
  });
}
