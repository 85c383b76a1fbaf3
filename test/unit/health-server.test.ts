import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Health } from '../../agent/health/health.js';
import { parseListen } from '../../agent/health/server.js';
import type { Clock } from '../../agent/types.js';

/** A hand-driven clock: liveness decisions are about elapsed time, so the test moves time itself. */
function fakeClock(): Clock & { t: number } {
  const c = { t: 1_000, now: () => c.t, wall: () => 1_700_000_000_000 + c.t };
  return c;
}

const open: Health[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.stop()));
});

async function started(clock: Clock, stallMs = 2_000): Promise<Health> {
  const h = new Health({ listen: '127.0.0.1:0', stallMs, clock });
  open.push(h);
  await h.start();
  return h;
}

describe('health endpoint over real HTTP', () => {
  it('/healthz: 503 before the first frame, 200 while frames flow, 503 once stalled, 200 again, 503 when stopping', async () => {
    const clock = fakeClock();
    const h = await started(clock);
    const url = h.url()!;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    let res = await fetch(`${url}/healthz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: 'starting', frames: 0, lastFrameAgeMs: null });

    for (let i = 0; i < 10; i++) {
      clock.t += 100;
      h.frame();
    }
    h.setInfo({ variant: 'ssd-int8', accelerator: 'cpu' });
    res = await fetch(`${url}/healthz`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ status: 'ok', frames: 10, lastFrameAgeMs: 0, variant: 'ssd-int8', accelerator: 'cpu' });
    expect(body.fps).toBeCloseTo(10, 5);
    expect(h.flowing()).toBe(true);

    clock.t += 2_001;
    res = await fetch(`${url}/healthz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: 'stalled', lastFrameAgeMs: 2001 });
    expect(h.flowing()).toBe(false);

    h.frame();
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    h.stopping();
    res = await fetch(`${url}/healthz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: 'stopping' });
  });

  it('/metrics: Prometheus text with the values the loop recorded', async () => {
    const clock = fakeClock();
    const h = await started(clock);
    for (let i = 0; i < 20; i++) {
      clock.t += 50;
      h.frame();
      h.metrics.inferences.inc();
      h.metrics.inferenceSeconds.observe((10 + i) / 1000);
      h.metrics.stageLatency.observe(0.002, { stage: 'capture' });
    }
    h.metrics.outboxDepth.set(3);
    h.metrics.actuations.inc({ output: 'gate', result: 'ok' });
    const res = await fetch(`${h.url()}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await res.text();
    expect(text).toContain('edge_agent_fps 20\n');
    expect(text).toContain('edge_agent_frames_total 20\n');
    expect(text).toContain('edge_agent_inferences_total 20\n');
    // 10..29 ms: 1 at or under 10 ms, 16 at or under 25 ms, all 20 at or under 50 ms; the sum is 0.39 s.
    expect(text).toContain('edge_agent_inference_seconds_bucket{le="0.01"} 1\n');
    expect(text).toContain('edge_agent_inference_seconds_bucket{le="0.025"} 16\n');
    expect(text).toContain('edge_agent_inference_seconds_bucket{le="0.05"} 20\n');
    expect(text).toContain('edge_agent_inference_seconds_bucket{le="+Inf"} 20\n');
    expect(Number(/^edge_agent_inference_seconds_sum (\S+)$/m.exec(text)?.[1])).toBeCloseTo(0.39, 9);
    expect(text).toContain('edge_agent_stage_latency_seconds_bucket{stage="capture",le="0.001"} 0\n');
    expect(text).toContain('edge_agent_stage_latency_seconds_bucket{stage="capture",le="0.0025"} 20\n');
    expect(text).toContain('edge_agent_outbox_depth 3\n');
    expect(text).toContain('edge_agent_actuations_total{output="gate",result="ok"} 1\n');
    expect(text).toContain('edge_agent_last_frame_age_seconds 0\n');
  });

  it('frame(stages), actuation() and setModel() fill the agent metrics', async () => {
    const clock = fakeClock();
    const h = await started(clock);
    h.setModel('int8', 'coral-usb');
    h.setModel('fp32', 'cpu'); // a variant switch replaces the info series
    for (let i = 1; i <= 4; i++) {
      clock.t += 100;
      h.frame({ capture: 1, preprocess: 2, inference: 10 * i, decode: 0.5, track: undefined, rules: 0.1, total: 20 });
    }
    h.actuation({ type: 'pulse', output: 'gate', status: 'scheduled' });
    h.actuation({ type: 'pulse', output: 'gate', status: 'refused' });
    h.actuation({ type: 'event', status: 'queued' });
    const text = await (await fetch(`${h.url()}/metrics`)).text();
    expect(text).toContain('edge_agent_accelerator_info{kind="cpu",variant="fp32"} 1\n');
    expect(text).not.toContain('variant="int8"');
    expect(text).toContain('edge_agent_inferences_total 4\n');
    // Inference 10, 20, 30, 40 ms: two at or under 25 ms, all four at or under 50 ms.
    expect(text).toContain('edge_agent_inference_seconds_bucket{le="0.025"} 2\n');
    expect(text).toContain('edge_agent_inference_seconds_bucket{le="0.05"} 4\n');
    expect(text).toContain('edge_agent_stage_latency_seconds_bucket{stage="inference",le="0.025"} 2\n');
    expect(text).toContain('edge_agent_stage_latency_seconds_bucket{stage="inference",le="0.05"} 4\n');
    expect(text).toContain('edge_agent_stage_latency_seconds_count{stage="capture"} 4\n');
    expect(text).not.toContain('stage="track"');
    expect(text).toContain('edge_agent_actuations_total{output="gate",result="scheduled"} 1\n');
    expect(text).toContain('edge_agent_actuations_total{output="gate",result="refused"} 1\n');
    const body = (await (await fetch(`${h.url()}/healthz`)).json()) as Record<string, unknown>;
    expect(body).toMatchObject({ variant: 'fp32', accelerator: 'cpu' });
    expect(h.statusLine()).toBe('10.0 fps, fp32 on cpu, 4 frames');
  });

  it('answers HEAD, 404 for unknown paths, 405 for other methods', async () => {
    const h = await started(fakeClock());
    const url = h.url()!;
    const head = await fetch(`${url}/metrics`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    expect((await fetch(`${url}/nope`)).status).toBe(404);
    expect((await fetch(`${url}/healthz`, { method: 'POST' })).status).toBe(405);
  });

  it('fails to start with one clear line when the port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const h = new Health({ listen: `127.0.0.1:${port}`, stallMs: 1000 });
      await expect(h.start()).rejects.toThrow(/cannot listen on 127\.0\.0\.1:\d+ \(EADDRINUSE\)/);
    } finally {
      blocker.close();
    }
  });

  it('stop() closes the listener (the port is free again)', async () => {
    const h = await started(fakeClock());
    const url = h.url()!;
    await h.stop();
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });

  it('enabled: false runs no server but keeps liveness for the watchdog', async () => {
    const clock = fakeClock();
    const h = new Health({ enabled: false, stallMs: 500, clock });
    await h.start();
    expect(h.url()).toBeUndefined();
    h.frame();
    expect(h.flowing()).toBe(true);
    clock.t += 501;
    expect(h.flowing()).toBe(false);
    expect(h.statusLine()).toBe('0.0 fps, 1 frames, stalled');
  });

  it('parseListen accepts host:port and [v6]:port, rejects the rest', () => {
    expect(parseListen('127.0.0.1:9464')).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(parseListen('[::1]:9464')).toEqual({ host: '::1', port: 9464 });
    expect(() => parseListen('9464')).toThrow(/not host:port/);
    expect(() => parseListen('host:70000')).toThrow(/not host:port/);
  });
});
