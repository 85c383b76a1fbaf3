/**
 * The output worker thread: owns the drivers, the safety channels and every output timer, so that pulses fire
 * on time while the main thread is busy with inference, JSON or garbage collection, and so that the maximum
 * on-time and the stall watchdog keep working even when the main thread is blocked.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../log.js';
import { systemClock } from '../types.js';
import { createActuator } from '../../drivers/gpio/registry.js';
import { makeThisThreadRealtime } from '../../drivers/gpio/realtime.js';
import type { PublishFn } from './actuator.js';
import { OutputCore } from './core.js';
import { preciseTimers } from './timers.js';
import { Shared, monoOffsetMs, serializeError, type FromWorker, type ToWorker, type WorkerInit } from './protocol.js';

const init = workerData as WorkerInit;
const port = parentPort!;
const shared = new Int32Array(init.shared);
// main-thread time + delta = worker time (both performance.now() clocks count CLOCK_MONOTONIC from their own origin).
const delta = init.mainOffsetMs - monoOffsetMs();
const toWorker = (t: number): number => t + delta;
const toMain = (t: number): number => t - delta;

const log = createLogger({ level: init.log.level as never, pretty: init.log.pretty });
const send = (m: FromWorker): void => port.postMessage(m);

if (init.realtimePriority > 0) {
  const rt = makeThisThreadRealtime(init.realtimePriority);
  if (rt.ok) log.info({ component: 'outputs', scheduling: rt.detail }, 'output thread runs with real-time priority');
  else log.warn({ component: 'outputs', reason: rt.detail }, 'output thread could not get real-time priority: pulse timing may slip under load');
}

let publishSeq = 0;
const publishWaits = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
const publish: PublishFn = (topic, payload, opts) =>
  new Promise<void>((resolve, reject) => {
    const id = ++publishSeq;
    publishWaits.set(id, { resolve, reject });
    send({ op: 'publish', id, topic, payload, qos: opts.qos, retain: opts.retain });
  });

const core = new OutputCore(init.outputs, {
  clock: systemClock,
  timers: preciseTimers(systemClock),
  log,
  simulateJournal: init.simulateJournal,
  stallMs: init.stallMs,
  ledgerDir: init.ledgerDir,
  driverContext: { devRoot: init.devRoot, sysRoot: init.sysRoot, ...(init.hasPublish ? { publish } : {}) },
  createDriver: createActuator,
  report: (r) =>
    send({
      op: 'report',
      report: { ...r, atMono: toMain(r.atMono), ...(r.dueMono !== undefined ? { dueMono: toMain(r.dueMono) } : {}) },
    }),
});

// Heartbeats arrive as a shared counter (no message per frame); poll it often enough for the stall watchdog.
let lastBeat = Atomics.load(shared, Shared.beat);
if (init.stallMs) {
  setInterval(() => {
    const b = Atomics.load(shared, Shared.beat);
    if (b !== lastBeat) {
      lastBeat = b;
      core.heartbeat();
    }
  }, Math.max(1, Math.min(50, init.stallMs / 10))).unref();
}

// If this thread dies, the lines must not stay on.
process.on('uncaughtExceptionMonitor', () => core.safeAllSync('output worker crashed'));

async function handle(m: ToWorker): Promise<unknown> {
  switch (m.op) {
    case 'start':
      return core.start();
    case 'stop':
      return core.stop();
    case 'pulse': {
      const o = core.pulse(m.name, { dueMono: toWorker(m.dueMono), widthMs: m.widthMs, reason: m.reason, ...(m.mediaMs !== undefined ? { mediaMs: m.mediaMs } : {}) });
      return o.type === 'pulse' && o.dueMono !== undefined ? { ...o, dueMono: toMain(o.dueMono) } : o;
    }
    case 'hold':
      return core.hold(m.name, { durationMs: m.durationMs, reason: m.reason });
    case 'off':
      return core.off(m.name, m.reason);
    case 'status':
      return core.status();
    default:
      return undefined;
  }
}

port.on('message', (m: ToWorker) => {
  if (m.op === 'safe-all') {
    core.safeAllSync(m.reason);
    Atomics.store(shared, Shared.safeAck, 1);
    Atomics.notify(shared, Shared.safeAck);
    return;
  }
  if (m.op === 'published') {
    const w = publishWaits.get(m.id);
    publishWaits.delete(m.id);
    if (m.error) w?.reject(new Error(m.error));
    else w?.resolve();
    return;
  }
  handle(m).then(
    (value) => send({ op: 'reply', id: m.id, value }),
    (err: unknown) => send({ op: 'reply', id: m.id, error: serializeError(err) }),
  );
});
