import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mqttConfigSchema } from '../../agent/config/sections/events.js';
import { mosquittoAvailable, startBroker } from '../../drivers/mqtt/broker.js';
import { MqttEventSink } from '../../agent/app/mqtt-sink.js';

async function waitFor(pred: () => boolean, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(!mosquittoAvailable())('MQTT sink: a lost and regained broker is one sink restart', () => {
  it('calls onReconnect once per reconnection, never for the first connect', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mqtt-reconnect-'));
    const broker = await startBroker({ dir: join(dir, 'broker') });
    let reconnects = 0;
    const sink = new MqttEventSink({
      mqtt: mqttConfigSchema.parse({ url: broker.url, topicPrefix: 't' }),
      outbox: { maxEvents: 100, maxBytes: 1 << 20, maxAgeDays: 1 },
      stateDir: join(dir, 'state'),
      deviceId: 'r1',
      reconnectMinMs: 50,
      reconnectMaxMs: 200,
      onReconnect: () => reconnects++,
    });
    try {
      await sink.start();
      await sink.waitConnected(10_000);
      expect(reconnects).toBe(0);
      await broker.kill('SIGKILL');
      await waitFor(() => !sink.isConnected(), 10_000, 'the sink to notice the broker is gone');
      await broker.restart();
      await sink.waitConnected(15_000);
      expect(reconnects).toBe(1);
      expect(sink.stats().connects).toBe(2);
    } finally {
      await sink.stop();
      await broker.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
