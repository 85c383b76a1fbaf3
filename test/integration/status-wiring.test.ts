import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { checkConfigText } from '../../agent/config/load.js';
import { EventBus } from '../../agent/bus.js';
import { Health } from '../../agent/health/health.js';
import { StatusWiring, type StatusAgentView } from '../../agent/app/status-wiring.js';
import { silentLogger } from '../../agent/log.js';
import type { Frame } from '../../agent/types.js';

/**
 * StatusWiring on a real bus and a real health listener (port 0): what the bus says reaches the page, keyed by the
 * camera each payload names (a camera first seen on the bus is listed), and the page is served before the
 * listener's own method check. The agent behind it is reduced to what the wiring reads (no outputs, no model).
 */
const cfg = checkConfigText(
  stringify({
    source: { type: 'file', path: 'x.mp4' },
    model: { manifest: 'm.json' },
    rules: [{ name: 'defect', type: 'anomaly', labels: { defect: 0.5 }, actions: [{ type: 'event' }] }],
    health: { enabled: true, listen: '127.0.0.1:0' },
  }),
).config!;

const frame = (seq: number): Frame => ({ seq, captureMono: 0, captureWall: Date.now(), ptsMs: seq * 66, width: 8, height: 6, format: 'rgb24', data: new Uint8Array(8 * 6 * 3).fill(90) });

describe('status wiring: bus to page, by camera', () => {
  let health: Health | undefined;
  let wiring: StatusWiring | undefined;
  afterEach(async () => {
    await wiring?.stop();
    await health?.stop();
  });

  const start = async (enabled = true) => {
    const bus = new EventBus(silentLogger);
    const agent: StatusAgentView = { bus, deviceId: 'dev', selection: undefined, tally: { snapshot: () => ({ dropped: { latest: 3 } }) as never }, outputs: () => undefined, model: () => undefined, pipeline: undefined, reload: async () => ({ applied: false, message: 'n/a' }) };
    health = new Health({ listen: '127.0.0.1:0', stallMs: 5_000, log: silentLogger });
    await health.start();
    wiring = new StatusWiring({ cfg: { ...cfg, status: { ...cfg.status, enabled } }, loaded: { config: cfg, path: undefined, baseDir: '/' }, log: silentLogger, agent });
    wiring.start(health, [{ name: 'default', describe: 'file x.mp4', width: 8, height: 6 }]);
    return { bus, url: health.url()! };
  };

  it('lists a camera first seen on the bus, and files events, deliveries and the outbox under what the bus said', async () => {
    const { bus, url } = await start();
    const feed = wiring!.feed!;
    const seen: string[] = [];
    feed.subscribe((u) => seen.push(u.type));
    bus.emit('decision', { camera: 'yard', seq: 1, captureTs: Date.now(), detections: [], firings: [], frame: frame(1), geometry: { srcWidth: 16, srcHeight: 12 } as never });
    expect(feed.state().cameras.map((c) => [c.name, c.width, c.height])).toEqual([['default', 8, 6], ['yard', 16, 12]]);
    expect(feed.liveView('yard')!.counters.offered).toBe(1);
    expect(feed.liveView('yard')!.counters.provided).toBe(0); // nobody watches
    expect(seen).toContain('cameras');
    const ev = { schema: 1 as const, id: 'ev-1', ts: new Date().toISOString(), rule: 'defect', label: 'defect', score: 0.9, bbox: [0.1, 0.2, 0.3, 0.4] as [number, number, number, number], trackId: 4, frame: { seq: 1, ts: new Date().toISOString() }, model: { name: 'm', variant: 'v', sha256: 'x' }, actions: [{ type: 'event' as const, status: 'queued' as const }] };
    bus.emit('event', { camera: 'yard', eventId: 'ev-1', outcome: { type: 'event', status: 'queued' }, event: ev, evidence: { frame: frame(1) } });
    bus.emit('event', { camera: 'yard', eventId: 'ev-2', outcome: { type: 'event', status: 'failed', detail: 'no sink' }, event: { ...ev, id: 'ev-2' } });
    bus.emit('eventDelivered', { sink: 'mqtt', eventId: 'ev-1' });
    bus.emit('sinkFailed', { sink: 'jsonl', eventId: 'ev-2', detail: 'ENOSPC' });
    bus.emit('outboxDepth', { depth: 7 });
    const st = feed.state();
    expect(st.events.map((e) => [e.id, e.camera, e.delivery])).toEqual([['ev-2', 'yard', 'failed'], ['ev-1', 'yard', 'delivered']]);
    expect(st.events[0]!.deliveryDetail).toBe('jsonl: ENOSPC');
    expect(st.events[0]!.actions).toEqual([{ type: 'event', status: 'failed', detail: 'no sink' }]);
    expect(st.outboxDepth).toBe(7);
    expect(st.rules).toEqual(['defect']);
    // The page on the agent's listener; an action without a password is refused by the page, not by the
    // listener's GET-only check; /healthz keeps that check.
    const page = await fetch(`${url}/`);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const act = await fetch(`${url}/status/output/test`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(act.status).toBe(403);
    expect(((await act.json()) as { error: string }).error).toContain('status.passwordHash');
    expect((await fetch(`${url}/healthz`, { method: 'POST' })).status).toBe(405);
  });

  it('status.enabled false: nothing served, nothing subscribed', async () => {
    const { bus, url } = await start(false);
    expect(wiring!.feed).toBeUndefined();
    bus.emit('decision', { camera: 'yard', seq: 1, captureTs: 0, detections: [], firings: [], frame: frame(1) });
    expect(await (await fetch(`${url}/`)).text()).toContain('edge-agent: /healthz /metrics');
    expect((await fetch(`${url}/status/state`)).status).toBe(404);
  });
});
