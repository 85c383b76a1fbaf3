/**
 * Smoke tool: emit sample anomaly events through the MQTT sink (durable outbox + broker).
 *   node dist/scripts/mqtt-emit.js --url mqtt://127.0.0.1:1883 --state-dir DIR [--count N] [--interval-ms MS]
 *     [--device ID] [--prefix P] [--camera NAME] [--hold] [--drain]
 * Prints one JSON line per event once it is durably queued ({"queued": id, "n": i}), then {"done": true}.
 * --hold keeps it running (connected, status online) until killed; --drain waits until the broker
 * acknowledged everything before exiting. Used by the crash tests (killed with SIGKILL mid-run).
 */
import { parseArgs } from 'node:util';
import { createLogger } from '../agent/log.js';
import { mqttConfigSchema } from '../agent/config/sections/events.js';
import { sampleEvent } from '../agent/events/sample.js';
import { MqttEventSink } from '../agent/app/mqtt-sink.js';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      'state-dir': { type: 'string' },
      count: { type: 'string', default: '10' },
      'interval-ms': { type: 'string', default: '0' },
      device: { type: 'string', default: 'smoke' },
      prefix: { type: 'string', default: 'edge-agent' },
      camera: { type: 'string' },
      hold: { type: 'boolean', default: false },
      drain: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (!values.url || !values['state-dir']) {
    process.stderr.write('usage: mqtt-emit --url mqtt://host:port --state-dir DIR [--count N] [--interval-ms MS] [--camera NAME] [--hold] [--drain]\n');
    return 64;
  }
  const log = createLogger({ pretty: false });
  const sink = new MqttEventSink({
    mqtt: mqttConfigSchema.parse({ url: values.url, topicPrefix: values.prefix }),
    outbox: { maxEvents: 100_000, maxBytes: 256 * 1024 * 1024, maxAgeDays: 30 },
    stateDir: values['state-dir'],
    deviceId: values.device!,
    log,
    reconnectMinMs: 100,
    reconnectMaxMs: 500,
  });
  await sink.start();
  sink.setStatus({ hardware: { board: 'smoke-test' }, degraded: [] });
  const out = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);
  const count = Number(values.count);
  const interval = Number(values['interval-ms']);
  for (let i = 0; i < count; i++) {
    const ev = sampleEvent(i, { device: values.device, ...(values.camera ? { camera: values.camera } : {}) });
    await sink.emit(ev);
    out({ queued: ev.id, n: i });
    if (interval > 0) await new Promise((r) => setTimeout(r, interval));
  }
  out({ done: true, queued: sink.stats().outbox.queued });
  if (values.drain) {
    await sink.drained(60_000);
    out({ drained: true });
  }
  if (values.hold) {
    await new Promise<void>((resolve) => {
      process.once('SIGTERM', () => resolve());
      process.once('SIGINT', () => resolve());
    });
  }
  await sink.stop();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
