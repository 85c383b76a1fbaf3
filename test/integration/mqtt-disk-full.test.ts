import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { mqttConfigSchema } from '../../agent/config/sections/events.js';
import { EventHub } from '../../agent/events/hub.js';
import { sampleEvent } from '../../agent/events/sample.js';
import { silentLogger } from '../../agent/log.js';
import { mosquittoAvailable, startBroker, subscribe, type Broker, type Subscription } from '../../drivers/mqtt/broker.js';
import { MqttEventSink } from '../../agent/app/mqtt-sink.js';

/** A real full disk: a 192 KiB tmpfs mounted for the test (needs root / CAP_SYS_ADMIN). */
function canMount(): boolean {
  if (process.getuid?.() !== 0) return false;
  const dir = path.join(os.tmpdir(), `mount-probe-${process.pid}`);
  spawnSync('mkdir', ['-p', dir]);
  const ok = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]).status === 0;
  if (ok) spawnSync('umount', [dir]);
  spawnSync('rmdir', [dir]);
  return ok;
}

const ready = mosquittoAvailable() && canMount();

async function waitFor(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(!ready)('outbox on a full disk (real tmpfs of 192 KiB, real mosquitto)', () => {
  let tmp: string;
  let mnt: string;
  let broker: Broker | undefined;
  let sub: Subscription | undefined;
  let hub: EventHub | undefined;

  beforeEach(async () => {
    tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'mqtt-full-'));
    mnt = path.join(tmp, 'state');
    await fsp.mkdir(mnt);
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=192k', 'tmpfs', mnt]).status).toBe(0);
  });
  afterEach(async () => {
    await hub?.stop();
    hub = undefined;
    await sub?.close();
    await broker?.stop();
    sub = undefined;
    broker = undefined;
    spawnSync('umount', [mnt]);
    await fsp.rm(tmp, { recursive: true, force: true });
  });

  it('rejects new events with one clear error, keeps every queued one, and recovers once they are delivered', async () => {
    // Persistence: the collector's session (its subscription) survives the broker restart below.
    broker = await startBroker({ dir: path.join(tmp, 'broker'), persistence: true });
    const got: string[] = [];
    sub = await subscribe(broker.url, 'edge-agent/full/events', (m) => got.push((JSON.parse(m.payload.toString()) as { id: string }).id), { clientId: 'collector-full' });
    await broker.stop();
    const sink = new MqttEventSink({
      mqtt: mqttConfigSchema.parse({ url: broker.url }),
      // Bounds larger than the disk: the disk fills first.
      outbox: { maxEvents: 100_000, maxBytes: 64 * 1024 * 1024, maxAgeDays: 1 },
      stateDir: mnt,
      deviceId: 'full',
      reconnectMinMs: 50,
      reconnectMaxMs: 200,
      outboxOverrides: { segmentBytes: 32 * 1024 },
    });
    hub = new EventHub([sink], silentLogger);
    await hub.start();
    const queued: string[] = [];
    let failed = 0;
    let detail = '';
    // Keep emitting, as a detection loop would, well past the point where the disk is full.
    for (let i = 0; i < 600 && failed < 20; i++) {
      const ev = sampleEvent(i, { device: 'full' });
      const outcome = await hub.emit(ev);
      if (outcome.status === 'queued') queued.push(ev.id);
      else {
        failed++;
        // The real outcome: refused by the full disk (nothing kept), never reported queued.
        expect(outcome).toMatchObject({ status: 'refused', reason: expect.stringMatching(/^(disk-full|write-failed)$/) });
        detail = outcome.detail ?? '';
      }
    }
    expect(failed).toBe(20);
    expect(queued.length).toBeGreaterThan(50);
    expect(detail).toMatch(/disk full .*event\(s\) not queued/);
    const st = sink.stats().outbox;
    expect(st.queued).toBe(queued.length);
    expect(st.writeErrors).toBeGreaterThanOrEqual(20);

    // The broker comes back: everything queued before the disk filled arrives, in order.
    await broker.restart();
    await waitFor(() => got.length >= queued.length, 20_000, 'queued events delivered');
    expect([...new Set(got)]).toEqual(queued);
    await sink.drained();
    // Delivered segments are deleted, so the disk has room again and new events are accepted.
    const after = sampleEvent(9999, { device: 'full' });
    let outcome = await hub.emit(after);
    for (let i = 0; i < 3 && outcome.status !== 'queued'; i++) outcome = await hub.emit(after);
    expect(outcome.status).toBe('queued');
    await waitFor(() => got.includes(after.id), 10_000, 'event after recovery');
  });
});

if (!ready) {
  describe('outbox on a full disk', () => {
    it.skip('skipped: needs mosquitto and root (mounts a small tmpfs to fill)', () => undefined);
  });
}
