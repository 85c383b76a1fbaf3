/**
 * Outbox benchmark: events/s through the durable outbox (fsync on) to a real mosquitto, and the CPU time the
 * process spends per event (process.cpuUsage, user + system).
 *
 * Scenarios:
 *   outbox-seq    emit() awaited one at a time, no broker: one write + one fdatasync per event (worst case)
 *   outbox-burst  emits issued together, no broker: group commit shares the fdatasync
 *   mqtt-seq      emit() awaited one at a time, sink connected to mosquitto; timed until the subscriber has all
 *   mqtt-burst    emits issued together, same end to end
 *   mqtt-replay   events queued while the broker is down, then drained when it starts (replay rate)
 * The MQTT rows count the CPU of the whole process (outbox + mqtt.js + the in-process subscriber).
 *
 *   node dist/scripts/bench/outbox.js [--events N] [--json] [--dir DIR]
 */
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { mqttConfigSchema } from '../../agent/config/sections/events.js';
import { sampleEvent } from '../../agent/events/sample.js';
import { Outbox } from '../../agent/outbox/outbox.js';
import { startBroker, subscribe } from '../../drivers/mqtt/broker.js';
import { MqttEventSink } from '../../agent/app/mqtt-sink.js';

export interface OutboxBenchOptions {
  /** Events per scenario (default 2000). */
  events?: number;
  /** Folder for the journals (default: a temp folder on the same disk as os.tmpdir()). */
  dir?: string;
}

export interface OutboxBenchRow {
  scenario: string;
  events: number;
  seconds: number;
  eventsPerS: number;
  cpuUsPerEvent: number;
  /** emit() latency (until fsync'd), for the sequential rows. */
  emitP50Ms?: number;
  emitP99Ms?: number;
}

export interface OutboxBenchResult {
  rows: OutboxBenchRow[];
  broker: string;
  eventBytes: number;
  /** 1-minute load average and CPU count while it ran: the figures scale with a busy machine. */
  loadAvg1m: number;
  cpus: number;
  targetEventsPerS: number;
  /**
   * The throughput rows (mqtt-stream, mqtt-burst, mqtt-replay) meet the target. mqtt-seq is reported, not
   * judged: awaiting each emit before the next makes it one fsync round trip per event (disk latency bound).
   */
  pass: boolean;
}

const TARGET = 500;

function quantile(sorted: number[], q: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function measure(): () => { seconds: number; cpuUs: number } {
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  return () => {
    const c = process.cpuUsage(c0);
    return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, cpuUs: c.user + c.system };
  };
}

function row(scenario: string, events: number, m: { seconds: number; cpuUs: number }, lat?: number[]): OutboxBenchRow {
  const sorted = lat ? [...lat].sort((a, b) => a - b) : undefined;
  return {
    scenario,
    events,
    seconds: +m.seconds.toFixed(3),
    eventsPerS: Math.round(events / m.seconds),
    cpuUsPerEvent: Math.round(m.cpuUs / events),
    ...(sorted ? { emitP50Ms: +quantile(sorted, 0.5).toFixed(2), emitP99Ms: +quantile(sorted, 0.99).toFixed(2) } : {}),
  };
}

async function waitUntil(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > until) throw new Error(`benchmark: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

export async function benchOutbox(opts: OutboxBenchOptions = {}): Promise<OutboxBenchResult> {
  const n = opts.events ?? 2000;
  const root = opts.dir ?? (await fsp.mkdtemp(path.join(os.tmpdir(), 'bench-outbox-')));
  await fsp.mkdir(root, { recursive: true });
  const payloads = Array.from({ length: n }, (_, i) => Buffer.from(JSON.stringify(sampleEvent(i))));
  const rows: OutboxBenchRow[] = [];
  const limits = { maxEvents: 1_000_000, maxBytes: 1024 * 1024 * 1024, maxAgeDays: 30 };

  // Outbox alone.
  {
    const ob = new Outbox({ dir: path.join(root, 'seq'), ...limits });
    await ob.start();
    const lat: number[] = [];
    const m = measure();
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await ob.append('event', `e${i}`, payloads[i]!);
      lat.push(performance.now() - t);
    }
    rows.push(row('outbox-seq', n, m(), lat));
    await ob.stop();
  }
  {
    const ob = new Outbox({ dir: path.join(root, 'burst'), ...limits });
    await ob.start();
    const m = measure();
    await Promise.all(payloads.map((p, i) => ob.append('event', `e${i}`, p)));
    rows.push(row('outbox-burst', n, m()));
    await ob.stop();
  }

  // End to end through mosquitto (or aedes when mosquitto is missing).
  // Persistence + a persistent subscriber session: the subscription survives the broker restart of mqtt-replay.
  const broker = await startBroker({ dir: path.join(root, 'broker'), persistence: true });
  try {
    let received = 0;
    const sub = await subscribe(
      broker.url,
      'bench/dev/events',
      () => {
        received++;
      },
      { clientId: 'bench-collector' },
    );
    const mkSink = (name: string) =>
      new MqttEventSink({
        mqtt: mqttConfigSchema.parse({ url: broker.url, topicPrefix: 'bench' }),
        outbox: limits,
        stateDir: path.join(root, name),
        deviceId: 'dev',
        reconnectMinMs: 20,
        reconnectMaxMs: 100,
      });
    const events = () => Array.from({ length: n }, (_, i) => sampleEvent(i));
    for (const mode of ['seq', 'stream', 'burst'] as const) {
      const sink = mkSink(`mqtt-${mode}`);
      await sink.start();
      await sink.waitConnected();
      const evs = events();
      received = 0;
      const lat: number[] = [];
      const m = measure();
      if (mode === 'seq') {
        for (const ev of evs) {
          const t = performance.now();
          await sink.emit(ev);
          lat.push(performance.now() - t);
        }
      } else if (mode === 'stream') {
        const pending: Array<Promise<void>> = [];
        for (const ev of evs) {
          const t = performance.now();
          pending.push(sink.emit(ev).then(() => void lat.push(performance.now() - t)));
          await new Promise<void>((r) => setImmediate(r));
        }
        await Promise.all(pending);
      } else {
        await Promise.all(evs.map((ev) => sink.emit(ev)));
      }
      await waitUntil(() => received >= n, 120_000, `${n} events at the subscriber`);
      await sink.drained(60_000);
      rows.push(row(`mqtt-${mode}`, n, m(), mode !== 'burst' ? lat : undefined));
      await sink.stop();
    }
    {
      await broker.stop();
      const sink = mkSink('mqtt-replay');
      await sink.start();
      await Promise.all(events().map((ev) => sink.emit(ev)));
      received = 0;
      await broker.restart();
      const m = measure();
      await waitUntil(() => received >= n, 120_000, `${n} replayed events at the subscriber`);
      await sink.drained(60_000);
      rows.push(row('mqtt-replay', n, m()));
      await sink.stop();
    }
    await sub.close();
  } finally {
    await broker.stop();
    if (!opts.dir) await fsp.rm(root, { recursive: true, force: true });
  }
  const mqttRows = rows.filter((r) => r.scenario.startsWith('mqtt-') && r.scenario !== 'mqtt-seq');
  return { rows, broker: broker.kind, eventBytes: payloads[0]!.length, loadAvg1m: +os.loadavg()[0]!.toFixed(1), cpus: os.cpus().length, targetEventsPerS: TARGET, pass: mqttRows.every((r) => r.eventsPerS >= TARGET) };
}

export function formatOutboxTable(res: OutboxBenchResult): string {
  const head = ['scenario', 'events', 'seconds', 'events/s', 'CPU us/event', 'emit p50 ms', 'emit p99 ms'];
  const body = res.rows.map((r) => [r.scenario, String(r.events), r.seconds.toFixed(2), String(r.eventsPerS), String(r.cpuUsPerEvent), r.emitP50Ms?.toFixed(2) ?? '-', r.emitP99Ms?.toFixed(2) ?? '-']);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [
    `Outbox -> ${res.broker} (fsync on, ${res.eventBytes}-byte events, QoS 1; load average ${res.loadAvg1m} on ${res.cpus} CPUs)`,
    line(head),
    line(widths.map((w) => '-'.repeat(w))),
    ...body.map(line),
    `target: >= ${res.targetEventsPerS} events/s end to end (stream, burst, replay): ${res.pass ? 'PASS' : 'FAIL'}`,
    'mqtt-seq awaits each emit before the next: one fdatasync round trip per event, bound by disk latency',
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { events: { type: 'string' }, json: { type: 'boolean', default: false }, dir: { type: 'string' } }, strict: true });
  const res = await benchOutbox({ ...(values.events ? { events: Number(values.events) } : {}), ...(values.dir ? { dir: values.dir } : {}) });
  process.stdout.write(values.json ? `${JSON.stringify(res, null, 2)}\n` : `${formatOutboxTable(res)}\n`);
  process.exitCode = res.pass ? 0 : 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
