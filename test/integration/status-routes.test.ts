import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../agent/log.js';
import { statusSchema } from '../../agent/config/sections/status.js';
import { configSchema } from '../../agent/config/schema.js';
import { StatusFeed } from '../../agent/status/feed.js';
import { LiveView } from '../../agent/status/live.js';
import { SnapshotEncoder } from '../../agent/events/snapshot-encoder.js';
import { createStatusHandler } from '../../agent/status/routes.js';
import { hashPassword, verifyPassword } from '../../agent/status/auth.js';
import { polygonShapeProblem } from '../../agent/status/zone-save.js';
import { generateScene } from '../../scripts/demo-scene/scene.js';
import { renderFrame } from '../../scripts/demo-scene/render.js';
import type { Frame } from '../../agent/types.js';
import { repoRoot } from '../helpers/cli.js';
import type { OperatorActions, StatusUpdate } from '../../agent/status/source.js';

/**
 * The status routes on a real HTTP server with real demo-scene frames and the real JPEG encoder: who may see and
 * do what, and that the live picture costs nothing while nobody watches.
 */
const scene = generateScene({ seed: 4242 });
const picture = renderFrame(scene, 40);
const frame = (seq: number): Frame => ({ seq, captureMono: performance.now(), captureWall: Date.now(), ptsMs: seq * 66, width: scene.width, height: scene.height, format: 'rgb24', data: picture });
const detections = [{ classId: 1, label: 'defect', score: 0.91, box: [0.1, 0.2, 0.3, 0.4] as [number, number, number, number], trackId: 7, hits: 4 }];
const calls: string[] = [];
const actions: OperatorActions = {
  testOutput: async (r) => (calls.push(`test ${r.output}`), { ok: true, message: 'done' }),
  saveZone: async (r) => (calls.push(`zone ${r.rule}`), { ok: true, message: 'saved' }),
};

let server: Server | undefined;
let feed: StatusFeed | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => (server ? server.close(() => r(undefined)) : r(undefined)));
  await feed?.close();
  server = undefined;
  calls.length = 0;
});

async function serve(listen: string, status: Record<string, unknown> = {}): Promise<string> {
  feed = new StatusFeed({ device: { id: 't' }, cameras: [{ name: 'main', describe: 'scene', width: scene.width, height: scene.height }], outputs: {}, maxFps: 4 });
  const handler = createStatusHandler({ feed, actions, config: statusSchema.parse(status), listen, log: silentLogger, frameWaitMs: 2_000 });
  server = createServer((req, res) => {
    if (!handler(req, res)) res.writeHead(404).end('theirs\n');
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
}

const post = (url: string, body: unknown, headers: Record<string, string> = {}) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

describe('status routes', () => {
  it('leave other paths to the server they are plugged into', async () => {
    const url = await serve('127.0.0.1:9464');
    expect(await (await fetch(`${url}/healthz`)).text()).toBe('theirs\n');
    expect((await fetch(`${url}/`)).headers.get('content-security-policy')).toContain("script-src 'self'");
  });

  it('opened to the network without a password: refuse everything but the empty page shell', async () => {
    const url = await serve('0.0.0.0:9464');
    for (const p of ['/status/state', '/status/events', '/status/frame/main.jpg', '/status/session']) {
      const r = await fetch(`${url}${p}`);
      expect(r.status, p).toBe(403);
      expect(((await r.json()) as { error: string }).error).toContain('set status.passwordHash');
    }
    expect((await post(`${url}/status/output/test`, { output: 'x', mode: 'pulse', ms: 10 })).status).toBe(403);
    expect(calls).toEqual([]);
  });

  it('on 127.0.0.1 without a password: view, but no action', async () => {
    const url = await serve('127.0.0.1:9464');
    expect((await fetch(`${url}/status/state`)).status).toBe(200);
    const r = await post(`${url}/status/output/test`, { output: 'x', mode: 'pulse', ms: 10 });
    expect(r.status).toBe(403);
    expect(((await r.json()) as { error: string }).error).toContain('actions need an operator password');
    expect(calls).toEqual([]);
  });

  it('with a password: login, CSRF header and JSON required; bad bodies refused with a reason', async () => {
    const url = await serve('0.0.0.0:9464', { passwordHash: hashPassword('s3cret-pass', { N: 1 << 12, r: 8, p: 1 }) });
    expect((await fetch(`${url}/status/state`)).status).toBe(401);
    expect((await post(`${url}/status/login`, { password: 'nope-nope' })).status).toBe(401);
    const login = await post(`${url}/status/login`, { password: 's3cret-pass' });
    expect(login.status).toBe(200);
    const cookie = login.headers.get('set-cookie')!;
    expect(cookie).toMatch(/HttpOnly; SameSite=Strict/);
    const { csrf } = (await login.json()) as { csrf: string };
    const c = cookie.split(';')[0]!;
    expect((await fetch(`${url}/status/state`, { headers: { cookie: c } })).status).toBe(200);
    // The page itself holds no secret: the CSRF token is only in the session answer to the cookie holder.
    expect(await (await fetch(`${url}/`)).text()).not.toContain(csrf);
    expect((await post(`${url}/status/output/test`, { output: 'x' }, { cookie: c, 'x-csrf-token': 'wrong' })).status).toBe(403);
    const text = await fetch(`${url}/status/output/test`, { method: 'POST', headers: { cookie: c, 'x-csrf-token': csrf, 'content-type': 'text/plain' }, body: 'output=x' });
    expect(text.status).toBe(415);
    const bad = await fetch(`${url}/status/output/test`, { method: 'POST', headers: { cookie: c, 'x-csrf-token': csrf, 'content-type': 'application/json' }, body: '[1,' });
    expect(bad.status).toBe(400);
    expect(calls).toEqual([]);
    const ok = await post(`${url}/status/output/test`, { output: 'x', mode: 'pulse', ms: 10 }, { cookie: c, 'x-csrf-token': csrf, origin: url });
    expect(ok.status).toBe(200);
    expect(calls).toEqual(['test x']);
  });

  it('encodes the live picture only while someone watches, at most maxFps, newest wins', async () => {
    const url = await serve('127.0.0.1:9464');
    let provided = 0;
    const offer = (seq: number) => feed!.frame('main', () => (provided++, { frame: frame(seq), detections, fired: [{ rule: 'defect', label: 'defect', trackId: 7, bbox: detections[0]!.box }] }));
    for (let i = 0; i < 200; i++) offer(i);
    expect(provided).toBe(0);
    // A viewer asks: the next offer is taken and encoded, the request gets it with its boxes.
    const pending = fetch(`${url}/status/frame/main.jpg?after=0`);
    // The request has reached the server once the camera counts as watched (a fixed sleep loses on a busy machine).
    await expect.poll(() => feed!.liveView('main')?.watching() ?? false).toBe(true);
    for (let i = 200; i < 260; i++) offer(i); // a burst: one is taken, the rest skipped (rate cap, encoder busy)
    const r = await pending;
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('image/jpeg');
    const jpeg = Buffer.from(await r.arrayBuffer());
    expect(jpeg.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    const meta = JSON.parse(decodeURIComponent(r.headers.get('x-frame')!)) as { seq: number; width: number; detections: Array<{ trackId: number }>; fired: Array<{ rule: string }> };
    expect(meta.seq).toBe(200);
    expect(meta.width).toBe(scene.width);
    expect(meta.detections[0]!.trackId).toBe(7);
    expect(meta.fired[0]!.rule).toBe('defect');
    expect(provided).toBe(1);
    expect(feed!.liveView('main')!.counters.skipped).toBe(59);
    // Nobody asks any more: after the lease, offers cost nothing again.
    const lease = feed!.liveView('main')!;
    (lease as unknown as { lastRequest: number }).lastRequest = -Infinity;
    for (let i = 260; i < 400; i++) offer(i);
    expect(provided).toBe(1);
  });

  it('does not show a returning viewer the picture from when it last looked', async () => {
    let now = 0;
    const view = new LiveView(new SnapshotEncoder('/nonexistent/worker.js'), { now: () => now, wall: () => Date.now() }, 5, (err) => { throw err; });
    const first = view.next(0, 1_000);
    view.offer(() => ({ frame: frame(1), detections, fired: [] }));
    expect((await first)!.seq).toBe(1);
    expect((await view.next(0, 10))!.seq).toBe(1); // still fresh
    now = 60_000; // a minute later, nobody watched in between
    expect(view.watching()).toBe(false);
    expect(await view.next(0, 10)).toBeUndefined();
  });

  it('encodes the snapshot of an event on the worker thread, though the frame carries its release() (dist/ built)', async () => {
    const workerFile = join(repoRoot, 'dist', 'agent', 'events', 'snapshot-worker.js');
    expect(existsSync(workerFile), `${workerFile} (run npm run build)`).toBe(true);
    const encoder = new SnapshotEncoder(workerFile);
    const f = new StatusFeed({ device: { id: 't' }, cameras: [{ name: 'main', describe: 'scene', width: scene.width, height: scene.height }], outputs: {}, encoder });
    let released = 0;
    const updates: string[] = [];
    f.subscribe((u) => updates.push(u.type));
    f.event('main', { schema: 1, id: 'ev-w', ts: new Date().toISOString(), rule: 'defect', label: 'defect', score: 0.9, bbox: [0.1, 0.2, 0.3, 0.4], trackId: 7, frame: { seq: 3, ts: new Date().toISOString() }, model: { name: 'm', variant: 'v', sha256: 'x' }, actions: [] }, { frame: { ...frame(3), release: () => void released++ } });
    await expect.poll(() => updates.includes('snapshot'), { timeout: 10_000 }).toBe(true);
    expect(f.snapshot('ev-w')!.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    expect(released).toBe(0); // the feed never gives the loop's frame back: that is the loop's job
    await f.close();
    await encoder.close();
  });

  it('pushes events to the page as they happen (SSE) and serves their snapshot', async () => {
    const url = await serve('127.0.0.1:9464');
    const ac = new AbortController();
    const r = await fetch(`${url}/status/events`, { signal: ac.signal });
    expect(r.headers.get('content-type')).toBe('text/event-stream');
    const reader = r.body!.getReader();
    let buf = '';
    const until = async (s: string) => {
      while (!buf.includes(s)) buf += new TextDecoder().decode((await reader.read()).value);
    };
    await until('event: state');
    const seen: StatusUpdate[] = [];
    feed!.subscribe((u) => seen.push(u));
    feed!.event('main', { schema: 1, id: 'ev-1', ts: new Date().toISOString(), rule: 'defect', label: 'defect', score: 0.9, bbox: [0.1, 0.2, 0.3, 0.4], trackId: 7, frame: { seq: 3, ts: new Date().toISOString() }, model: { name: 'm', variant: 'v', sha256: 'x' }, actions: [{ type: 'event', status: 'queued' }] }, { frame: frame(3) });
    await until('"id":"ev-1"');
    feed!.delivery('ev-1', 'delivered');
    await until('"delivery":"delivered"');
    await expect.poll(() => seen.some((u) => u.type === 'snapshot')).toBe(true);
    const snap = await fetch(`${url}/status/snapshot/ev-1.jpg`);
    expect(snap.status).toBe(200);
    expect(Buffer.from(await snap.arrayBuffer()).subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    ac.abort();
  });
});

describe('status config and checks', () => {
  it('defaults, and a password (not a hash) in the config is refused with the fix', () => {
    const cfg = configSchema.parse({ source: { type: 'v4l2', device: '/dev/video0' }, model: { manifest: 'm.json' } });
    expect(cfg.status).toEqual({ enabled: true, maxFps: 3, recentEvents: 50, sessionHours: 12 });
    const bad = statusSchema.safeParse({ passwordHash: 'hunter22' });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues[0]!.message).toContain('not the password itself');
    const h = hashPassword('operator-pass', { N: 1 << 12, r: 8, p: 1 });
    expect(statusSchema.parse({ passwordHash: h }).passwordHash).toBe(h);
    expect(verifyPassword('operator-pass', h)).toBe(true);
    expect(verifyPassword('operator-pasS', h)).toBe(false);
  });

  it('zones: 3 points at least, inside the picture, edges not crossing', () => {
    expect(polygonShapeProblem([[0, 0], [1, 0]])).toContain('at least 3 points');
    expect(polygonShapeProblem([[0, 0], [1.5, 0], [1, 1]])).toContain('outside the picture');
    expect(polygonShapeProblem([[0, 0], [1, 1], [1, 0], [0, 1]])).toContain('cross');
    expect(polygonShapeProblem([[0, 0], [1, 0], [1, 1]])).toBeUndefined();
  });
});
