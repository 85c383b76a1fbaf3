import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import pino from 'pino';
import { EventBus } from '../../agent/bus.js';
import { Tally } from '../../agent/health/tally.js';
import { Health } from '../../agent/health/health.js';
import { metricsFromBus } from '../../agent/health/bus-metrics.js';

function capture(): { log: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines };
}

describe('EventBus', () => {
  it('a throwing listener is logged with its component and counted; the other listeners and the emitter go on', async () => {
    const { log, lines } = capture();
    const bus = new EventBus(log);
    const seen: string[] = [];
    const failed: string[] = [];
    bus.onFailure((c) => failed.push(c));
    bus.on('frame', 'first', () => seen.push('first'));
    bus.on('frame', 'broken', () => {
      throw new Error('listener bug');
    });
    bus.on('frame', 'last', () => seen.push('last'));
    expect(() => bus.emit('frame', { camera: 'default', stagesMs: {} })).not.toThrow();
    bus.emit('frame', { camera: 'default', stagesMs: {} });
    expect(seen).toEqual(['first', 'last', 'first', 'last']);
    expect(bus.failures()).toEqual({ broken: 2 });
    expect(failed).toEqual(['broken', 'broken']);
    await new Promise((r) => setImmediate(r));
    const errs = lines.filter((l) => l.listener === 'broken');
    expect(errs).toHaveLength(2);
    expect(errs[0]).toMatchObject({ component: 'bus', event: 'frame', level: 50 });
    expect((errs[0]!.err as { message: string }).message).toBe('listener bug');
  });

  it('unsubscribes', () => {
    const bus = new EventBus();
    let n = 0;
    const off = bus.on('firstInference', 'x', () => n++);
    bus.emit('firstInference', { camera: 'a' });
    off();
    bus.emit('firstInference', { camera: 'a' });
    expect(n).toBe(1);
  });

  it('the tally and the metrics hear the same messages and agree', async () => {
    const bus = new EventBus();
    const tally = new Tally(bus);
    const health = new Health({ enabled: false, stallMs: 1000 });
    metricsFromBus(bus, health);
    bus.emit('frame', { camera: 'a', stagesMs: { inference: 4 } });
    bus.emit('framesDropped', { camera: 'a', reason: 'latest', count: 3 });
    bus.emit('actuation', { camera: 'a', outcome: { type: 'pulse', output: 'gate', status: 'scheduled' } });
    bus.emit('outputReport', { report: { output: 'gate', kind: 'fired', reason: 'r', atMono: 1, dueMono: 1 } });
    bus.emit('outputReport', { report: { output: 'gate', kind: 'stuck', reason: 'r', atMono: 2 } });
    bus.emit('event', { camera: 'a', eventId: 'e1', outcome: { type: 'event', status: 'queued' } });
    bus.emit('event', { camera: 'a', eventId: 'e2', outcome: { type: 'event', status: 'failed', detail: 'disk full' } });
    bus.emit('restart', { component: 'backend', reason: 'timeout' });
    bus.emit('sourceInputErrors', { camera: 'a', count: 2 });
    bus.emit('sourceInputErrors', { camera: 'a', count: 1 });
    bus.emit('thermal', { zones: [{ zone: 'cpu-thermal', tempC: 51.5 }] });
    const t = tally.snapshot();
    expect(t).toMatchObject({ frames: 1, dropped: { latest: 3, motion: 0 }, pulses: { scheduled: 1, fired: 1, stuck: 1 }, events: { queued: 1, failed: 1 }, restarts: { backend: 1, source: 0, sink: 0 } });
    expect(t.cameras.a).toEqual({ frames: 1, dropped: 3, firings: 0, events: 1 });
    const m = health.metrics;
    expect(m.frames.get()).toBe(1);
    expect(m.framesDropped.get({ reason: 'latest' })).toBe(3);
    expect(m.actuations.get({ output: 'gate', result: 'scheduled' })).toBe(1);
    expect(m.actuations.get({ output: 'gate', result: 'fired' })).toBe(1);
    expect(m.actuations.get({ output: 'gate', result: 'stuck' })).toBe(1);
    expect(m.events.get({ result: 'queued' })).toBe(1);
    expect(m.events.get({ result: 'failed' })).toBe(1);
    expect(m.restarts.get({ component: 'backend' })).toBe(1);
    expect(m.sourceInputErrors.get({ camera: 'a' })).toBe(3);
    expect(m.temperature.get({ zone: 'cpu-thermal' })).toBe(51.5);
    expect(m.inferenceSeconds.count()).toBe(1);
  });
});
