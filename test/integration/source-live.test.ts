import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sourceSchema } from '../../agent/config/sections/source.js';
import { createLogger } from '../../agent/log.js';
import { createSource, ProcessSource } from '../../drivers/camera/index.js';
import { meanRgb, take, testInput, until } from '../fixtures/cameras/helpers.js';
import { TestRtspServer } from '../fixtures/cameras/rtsp-server.js';

const restart = { minMs: 100, maxMs: 400, stallMs: 1500 };
const live = (c: Record<string, unknown>) => sourceSchema.parse({ restart, ...c });
/** A live test camera: ffmpeg's test pattern at 25 fps, paced like a real camera. */
const lavfi = (over: Record<string, unknown> = {}) => live({ type: 'pipeline', tool: 'ffmpeg', pipeline: '-re -f lavfi -i testsrc=size=320x240:rate=25', width: 320, height: 240, fps: 25, ...over });

/** A TCP port nobody listens on right now. */
function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createTcpServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

/** Collects warn-level log records so tests can assert what an operator would read. */
function logSink() {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({ level: 'warn', pretty: false, stream: { write: (s: string) => void lines.push(JSON.parse(s)) } as never });
  return { log, lines };
}

describe('live sources: ffmpeg and GStreamer pipelines', () => {
  it('a custom ffmpeg pipeline delivers live frames with capture timestamps', async () => {
    const src = createSource(lavfi(), { input: testInput(), mode: 'latest' });
    await src.start();
    const frames = await take(src, 10);
    expect(frames).toHaveLength(10);
    expect(frames[9]!.captureMono - frames[0]!.captureMono).toBeGreaterThan(250);
    expect(frames.every((f) => f.ptsMs === f.captureMono && f.data.length === 64 * 48 * 3)).toBe(true);
    await src.stop();
  });

  it('a custom GStreamer pipeline: odd content width (row stride padded to 4 bytes) keeps columns aligned', async () => {
    // 50x40 RGB: 150-byte rows padded to 152 by GStreamer; a wrong stride would shear the vertical bars.
    const src = createSource(live({ type: 'pipeline', tool: 'gstreamer', pipeline: 'videotestsrc is-live=true pattern=smpte ! video/x-raw,width=320,height=240,framerate=30/1', width: 320, height: 240 }), {
      input: testInput({ shape: [1, 3, 40, 50] }),
      mode: 'latest',
    });
    await src.start();
    const [f] = await take(src, 3).then((x) => x.slice(-1));
    expect(f!.data.length).toBe(50 * 40 * 3);
    // SMPTE bars: 7 vertical bars in the top two thirds; each column has the same colour in rows 2 and 20.
    for (const x of [3, 10, 17, 24, 31, 38, 45]) expect(meanRgb(f!, x, 2, 1, 1)).toEqual(meanRgb(f!, x, 20, 1, 1));
    // First bar white, the last bar blue.
    expect(meanRgb(f!, 2, 5, 2, 2).every((v) => v > 230)).toBe(true);
    const [r, g, b] = meanRgb(f!, 46, 5, 2, 2);
    expect(b).toBeGreaterThan(150);
    expect(r + g).toBeLessThan(80);
    await src.stop();
  });

  it('restarts after the capture process is killed mid-stream, logs and counts it, and frames continue', async () => {
    const { log, lines } = logSink();
    const src = createSource(lavfi(), { input: testInput(), mode: 'latest', log }) as ProcessSource;
    await src.start();
    const before = await take(src, 5);
    const [pid] = src.pids();
    process.kill(pid!, 'SIGKILL');
    expect(await until(() => src.stats().restarts === 1, 5000)).toBe(true);
    const after = await take(src, 5);
    expect(after).toHaveLength(5);
    expect(after[0]!.seq).toBeGreaterThan(before.at(-1)!.seq);
    expect(src.pids()[0]).not.toBe(pid);
    expect(src.status()).toMatchObject({ state: 'streaming', restarts: 1 });
    const warn = lines.find((l) => String(l.msg).includes('lost'))!;
    expect(warn.reason).toBe('capture exited: killed by SIGKILL');
    expect(warn.msg).toMatch(/restarting in \d+ ms$/);
    await src.stop();
  });

  it('restarts a source that stays up but delivers no frame for stallMs', async () => {
    // valve drop=true: the process runs and negotiates, but not one frame comes out.
    const src = createSource(live({ type: 'pipeline', tool: 'gstreamer', pipeline: 'videotestsrc is-live=true ! valve drop=true', width: 320, height: 240, restart: { minMs: 50, maxMs: 100, stallMs: 400, startMs: 400 } }), {
      input: testInput(),
      mode: 'latest',
    }) as ProcessSource;
    await src.start();
    expect(await until(() => src.stats().restarts >= 2, 8000)).toBe(true);
    expect(src.status().lastError).toMatch(/^no first frame for \d+ ms$/);
    await src.stop();
  });

  it('a capture process that hangs mid-stream (SIGSTOP) is killed and restarted after stallMs', async () => {
    const src = createSource(lavfi({ restart: { minMs: 50, maxMs: 100, stallMs: 600 } }), { input: testInput(), mode: 'latest' }) as ProcessSource;
    await src.start();
    await take(src, 3);
    const [pid] = src.pids();
    process.kill(pid!, 'SIGSTOP');
    expect(await until(() => src.stats().restarts === 1, 8000)).toBe(true);
    expect(src.status().lastError).toMatch(/^no frame for \d+ ms$/);
    expect(await take(src, 3)).toHaveLength(3);
    await src.stop();
  });

  it('latest mode drops (and counts) frames a slow consumer has no time for; the newest frame wins', async () => {
    const src = createSource(lavfi({ pipeline: '-re -f lavfi -i testsrc=size=320x240:rate=50' }), { input: testInput(), mode: 'latest' });
    await src.start();
    const frames = await take(src, 6, { delayMs: 150 });
    const seqs = frames.map((f) => f.seq);
    expect(seqs.slice(1).every((s, i) => s > seqs[i]! + 1)).toBe(true);
    expect(src.stats().framesDropped).toBeGreaterThanOrEqual(seqs.at(-1)! - seqs.length);
    await src.stop();
  });
});

describe('self-healing with bad devices, URLs and pipelines (never fatal for live sources)', () => {
  const failing = async (c: Record<string, unknown>, re: RegExp) => {
    const src = createSource(live({ ...c, restart: { minMs: 50, maxMs: 200, stallMs: 3000 } }), { input: testInput(), mode: 'latest' }) as ProcessSource;
    await src.start();
    let settled = false;
    void src.next().then(() => (settled = true), () => (settled = true));
    expect(await until(() => src.stats().restarts >= 2, 10_000)).toBe(true);
    expect(src.status().lastError).toMatch(re);
    expect(settled).toBe(false);
    await src.stop();
  };

  it('a V4L2 device that does not exist', () => failing({ type: 'v4l2', device: '/dev/video99' }, /the device or file does not exist/));
  it('a GStreamer pipeline with an unknown element', () => failing({ type: 'pipeline', tool: 'gstreamer', pipeline: 'nosuchsrc', width: 64, height: 48 }, /GStreamer has no element "nosuchsrc"/));

  describe('HTTP streams', () => {
    let http: Server;
    let port = 0;
    beforeAll(async () => {
      http = createServer((req, res) => {
        if (req.url === '/garbage.ts') {
          res.writeHead(200, { 'Content-Type': 'video/mp2t' });
          res.end(Buffer.alloc(200_000, 0x5a));
        } else {
          res.writeHead(404);
          res.end('not here');
        }
      });
      await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
      port = (http.address() as { port: number }).port;
    });
    afterAll(() => new Promise<void>((r) => http.close(() => r())));

    it('a URL that answers 404', () => failing({ type: 'rtsp', url: `http://127.0.0.1:${port}/missing.ts` }, /the server answered 404 Not Found: check the stream path/));
    it('a URL that serves garbage', () => failing({ type: 'rtsp', url: `http://127.0.0.1:${port}/garbage.ts` }, /not a video ffmpeg can decode/));
    it('nothing listening', () => failing({ type: 'rtsp', url: 'http://127.0.0.1:9/cam.ts' }, /connection refused/));

    it('an MPEG-TS stream served over HTTP by ffmpeg', async () => {
      const p = await freePort();
      const server: ChildProcess = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25', '-c:v', 'mpeg2video', '-f', 'mpegts', '-listen', '1', `http://127.0.0.1:${p}/cam.ts`], { stdio: 'ignore' });
      try {
        const src = createSource(live({ type: 'rtsp', url: `http://127.0.0.1:${p}/cam.ts` }), { input: testInput(), mode: 'latest' });
        await src.start();
        const frames = await take(src, 10, { timeoutMs: 20_000 });
        expect(frames).toHaveLength(10);
        await src.stop();
      } finally {
        server.kill('SIGKILL');
      }
    });
  });
});

describe('RTSP (real ffmpeg client against a minimal local RTSP server)', () => {
  const rtsp = new TestRtspServer('/live');
  beforeAll(() => rtsp.start());
  afterAll(async () => {
    await rtsp.stop();
    rtsp.dispose();
  });

  for (const transport of ['tcp', 'udp'] as const) {
    it(`streams over ${transport}`, async () => {
      const src = createSource(live({ type: 'rtsp', url: rtsp.url, transport }), { input: testInput(), mode: 'latest' });
      await src.start();
      const frames = await take(src, 10, { timeoutMs: 20_000 });
      expect(frames).toHaveLength(10);
      await src.stop();
    });
  }

  it('a wrong path answers 404 and is retried', async () => {
    const src = createSource(live({ type: 'rtsp', url: rtsp.url.replace('/live', '/nope'), restart: { minMs: 50, maxMs: 200, stallMs: 3000 } }), { input: testInput(), mode: 'latest' }) as ProcessSource;
    await src.start();
    expect(await until(() => src.stats().restarts >= 2, 10_000)).toBe(true);
    expect(src.status().lastError).toMatch(/the server answered 404 Not Found/);
    await src.stop();
  });

  it('the camera goes away and comes back: the source reconnects by itself', async () => {
    const src = createSource(live({ type: 'rtsp', url: rtsp.url, timeoutMs: 1000, restart: { minMs: 100, maxMs: 500, stallMs: 2000 } }), { input: testInput(), mode: 'latest' }) as ProcessSource;
    await src.start();
    expect(await take(src, 3, { timeoutMs: 20_000 })).toHaveLength(3);
    const port = rtsp.port;
    await rtsp.stop();
    expect(await until(() => src.stats().restarts >= 2, 15_000)).toBe(true);
    expect(src.status().state).not.toBe('streaming');
    await rtsp.start(port);
    const back = await take(src, 5, { timeoutMs: 20_000 });
    expect(back).toHaveLength(5);
    expect(src.status().state).toBe('streaming');
    await src.stop();
  });
});
