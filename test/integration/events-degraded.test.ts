/**
 * Events not durable, told where people look (issue 22, finding 4 and "a state folder that cannot stop the line"):
 * the agent runs with its state folder on a real 200 KiB tmpfs that is full. The loop runs on, every event is
 * recorded with its real outcome (refused, with the outbox's reason: never "queued"), /healthz and the retained MQTT
 * status (real mosquitto) say "events: events not durable (disk full ...)", and once space returns the outbox
 * recovers by itself (it retries every 5 s): the degraded entry disappears from both and events are queued again.
 * Real parts: ffmpeg decodes a generated conveyor clip (looped), ONNX Runtime runs the bundled demo model.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { composeAgent } from '../../agent/app/compose.js';
import { loadConfigFile } from '../../agent/config/load.js';
import { silentLogger } from '../../agent/log.js';
import type { ActionOutcome } from '../../agent/types.js';
import { mosquittoAvailable, startBroker, subscribe, type Broker, type Subscription } from '../../drivers/mqtt/broker.js';
import { writeScene } from '../../scripts/demo-scene/index.js';

const root = resolve(import.meta.dirname, '../..');
const isRoot = process.getuid?.() === 0;
const why = !isRoot ? ' [skipped: mounting a tmpfs needs root]' : !mosquittoAvailable() ? ' [skipped: mosquitto is not installed]' : '';

async function until<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Writes `file` until the filesystem says ENOSPC. */
function fill(file: string): void {
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(4096, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
}

describe.skipIf(why !== '')(`events not durable on a full tmpfs: /healthz and the MQTT status say degraded, then recover${why}`, () => {
  let dir: string;
  let mnt: string;
  let broker: Broker;
  let sub: Subscription;
  const statuses: Array<{ state?: string; degraded?: string[] }> = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'events-degraded-'));
    await writeScene(join(dir, 'scene'), { seed: 5151, seconds: 14 });
    mnt = join(dir, 'mnt');
    mkdirSync(mnt);
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=200k', 'tmpfs', mnt]);
    expect(m.status, m.stderr.toString()).toBe(0);
    broker = await startBroker({ dir: join(dir, 'broker') });
    sub = await subscribe(broker.url, 'dg/dg-1/status', (msg) => {
      if (msg.payload.length) statuses.push(JSON.parse(msg.payload.toString()) as (typeof statuses)[number]);
    });
  }, 120_000);

  afterAll(async () => {
    await sub?.close();
    await broker?.stop();
    if (mnt) spawnSync('umount', [mnt]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('refuses events with the reason, reports degraded on /healthz and the retained status, and recovers when space returns', async () => {
    const state = join(mnt, 'state');
    mkdirSync(state);
    fill(join(mnt, 'filler'));
    const cfg = {
      device: { id: 'dg-1' },
      stateDir: state,
      source: { type: 'file', path: join(dir, 'scene', 'conveyor.mp4'), pace: 'realtime', loop: true },
      model: { manifest: join(root, 'models', 'conveyor-demo', 'manifest.json'), threads: 1, variant: 'student-fp32' },
      tracker: { iou: 0.2, maxAgeMs: 600 },
      rules: [
        {
          name: 'defect',
          type: 'anomaly',
          labels: { defect: 0.5 },
          zone: { polygon: [[0.02, 0], [0.98, 0], [0.98, 1], [0.02, 1]], test: 'box' },
          persistence: { n: 3, m: 5 },
          actions: [{ type: 'event' }],
        },
      ],
      events: { mqtt: { url: broker.url, topicPrefix: 'dg' } },
      health: { enabled: true, listen: '127.0.0.1:0' },
    };
    writeFileSync(join(dir, 'config.yaml'), stringify(cfg));
    const agent = composeAgent({ loaded: loadConfigFile(join(dir, 'config.yaml')), log: silentLogger, mode: 'latest', stateDir: state });
    const outcomes: Array<Extract<ActionOutcome, { type: 'event' }>> = [];
    agent.bus.on('event', 'test', (p) => outcomes.push(p.outcome));
    await agent.start();
    const running = agent.run();
    try {
      const url = agent.healthUrl()!;
      const healthz = async () => (await (await fetch(`${url}/healthz`)).json()) as { degraded?: string[] };
      const notDurable = /^events: events not durable \(disk full: .*state\/outbox \(ENOSPC\)\)$/;

      // Degraded: /healthz and the retained status say so, and events are refused, never reported queued.
      const h = await until('/healthz to say events are not durable', async () => {
        const j = await healthz();
        return j.degraded?.some((d) => notDurable.test(d)) && j;
      }, 30_000);
      expect(h.degraded!.filter((d) => d.startsWith('events:'))).toHaveLength(1);
      await until('the retained status to say events are not durable', () => statuses.some((s) => s.state === 'online' && s.degraded?.some((d) => notDurable.test(d))), 15_000);
      await until('an event refused by the full disk', () => outcomes.length > 0, 60_000);
      expect(outcomes.every((o) => o.status === 'refused')).toBe(true);
      expect(['not-durable', 'disk-full']).toContain(outcomes[0]!.reason);
      expect(outcomes[0]!.detail).toMatch(/^mqtt: refused \(/);

      // Space returns: within the outbox's 5 s retry, both say healthy again and events are queued.
      rmSync(join(mnt, 'filler'));
      const refusedBefore = outcomes.length;
      await until('/healthz to drop the events entry', async () => {
        const j = await healthz();
        return j.degraded && !j.degraded.some((d) => d.startsWith('events:'));
      }, 30_000);
      await until('the retained status to drop the events entry', () => {
        const last = statuses.at(-1);
        return last?.state === 'online' && !last.degraded?.some((d) => d.startsWith('events:'));
      }, 15_000);
      await until('an event queued after recovery', () => outcomes.slice(refusedBefore).some((o) => o.status === 'queued'), 60_000);
      expect(existsSync(join(state, 'outbox'))).toBe(true);
    } finally {
      await agent.stop(3_000);
      await running.catch(() => undefined);
    }
  }, 240_000);
});
