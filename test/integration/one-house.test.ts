import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { composeAgent, createBackend, createModelHost } from '../../agent/app/compose.js';
import { loadConfigFile } from '../../agent/config/load.js';
import { silentLogger } from '../../agent/log.js';
import type { RunSummary } from '../../agent/agent.js';
import type { BackendFactory } from '../../agent/model/open-variant.js';
import { mosquittoAvailable, startBroker, subscribe, type Broker, type Subscription } from '../../drivers/mqtt/broker.js';
import { writeScene } from '../../scripts/demo-scene/index.js';
import { docJsonBlock, docMetricsTable, keyPaths } from '../helpers/docs.js';

/**
 * The agent tells one story (issue #17): a demo run with a dropped frame, a fired pulse, a stuck output, a backend
 * restart and a failed sink, and /metrics, /healthz, the run summary and the retained MQTT status all say the same.
 * Real parts: ffmpeg decodes a generated conveyor clip, ONNX Runtime runs the demo model, mosquitto takes the events,
 * the events file is /dev/full (a real ENOSPC on every write), the reject gate is the sysfs GPIO driver on a sysroot
 * folder laid out as the kernel's (Documentation/ABI/obsolete/sysfs-gpio). Two faults are injected at the lowest
 * boundary: one inference call that does not return for 1.5 s (a hung accelerator; the deadline is 400 ms), and the
 * line's `value` file turning into a folder while the gate is on, so switching it off fails (EISDIR) and the output is
 * reported stuck.
 */
const root = resolve(import.meta.dirname, '../..');
const ready = mosquittoAvailable() && existsSync('/dev/full');

describe.skipIf(!ready)('one house: metrics, /healthz, run summary and MQTT status agree', () => {
  let dir: string;
  let broker: Broker;
  let sub: Subscription;
  const statuses: Array<Record<string, unknown>> = [];
  const events: Array<Record<string, unknown>> = [];
  let evSub: Subscription;
  let summary: RunSummary;
  let metrics: string;
  let healthz: { frames: number; counts: Record<string, any> };
  let stuckAt = -1;
  const decisions = new Map<string, { seq: number; n: number }>();
  const delivered: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'one-house-'));
    await writeScene(join(dir, 'scene'), { seed: 5151, seconds: 14 });
    broker = await startBroker({ dir: join(dir, 'broker') });
    sub = await subscribe(broker.url, 'house/house-1/status', (m) => {
      if (m.payload.length) statuses.push(JSON.parse(m.payload.toString()) as Record<string, unknown>);
    });
    evSub = await subscribe(broker.url, 'house/house-1/events', (m) => events.push(JSON.parse(m.payload.toString()) as Record<string, unknown>));
    // A sysfs GPIO tree: one 58-line chip at base 512 (as on a Pi 4 with kernel 6.6), line 17 already exported.
    const gpio = join(dir, 'sys', 'class', 'gpio');
    mkdirSync(join(gpio, 'gpiochip512'), { recursive: true });
    writeFileSync(join(gpio, 'gpiochip512', 'base'), '512\n');
    writeFileSync(join(gpio, 'gpiochip512', 'label'), 'pinctrl-bcm2711\n');
    writeFileSync(join(gpio, 'gpiochip512', 'ngpio'), '58\n');
    writeFileSync(join(gpio, 'export'), '');
    writeFileSync(join(gpio, 'unexport'), '');
    mkdirSync(join(gpio, 'gpio529'));
    writeFileSync(join(gpio, 'gpio529', 'direction'), 'in\n');
    const value = join(gpio, 'gpio529', 'value');
    writeFileSync(value, '0\n');
    const cfg = {
      device: { id: 'house-1' },
      stateDir: join(dir, 'state'),
      source: { type: 'file', path: join(dir, 'scene', 'conveyor.mp4'), pace: 'realtime', loop: false },
      model: { manifest: join(root, 'models', 'conveyor-demo', 'manifest.json'), threads: 1, variant: 'student-fp32' },
      tracker: { iou: 0.2, maxAgeMs: 600 },
      rules: [
        {
          name: 'defect',
          type: 'anomaly',
          labels: { defect: 0.5 },
          zone: { polygon: [[0.02, 0], [0.98, 0], [0.98, 1], [0.02, 1]], test: 'box' },
          persistence: { n: 3, m: 5 },
          actions: [{ type: 'pulse', output: 'reject_gate', delayMs: 300, widthMs: 250 }, { type: 'event' }],
        },
      ],
      outputs: { reject_gate: { driver: { type: 'sysfs', line: 17 }, maxOnMs: 300 } },
      events: { jsonl: '/dev/full', mqtt: { url: broker.url, topicPrefix: 'house' } },
      health: { enabled: true, listen: '127.0.0.1:0' },
      pipeline: { inferenceTimeoutMs: 400 },
    };
    writeFileSync(join(dir, 'config.yaml'), stringify(cfg));
    const loaded = loadConfigFile(join(dir, 'config.yaml'));

    // The 40th inference call hangs for 1.5 s (a hung accelerator): the 400 ms deadline restarts the backend.
    let calls = 0;
    const hanging: BackendFactory = async (runtime, log) => {
      const b = await createBackend(runtime, log);
      const run = b.run.bind(b);
      b.run = async (inputs) => {
        if (++calls === 40) await new Promise((r) => setTimeout(r, 1_500));
        return run(inputs);
      };
      return b;
    };
    const agent = composeAgent({
      loaded,
      log: silentLogger,
      mode: 'latest',
      stateDir: join(dir, 'state'),
      outputRoots: { sysRoot: join(dir, 'sys') },
      drivers: { modelHost: (o) => createModelHost(o, { createBackend: hanging }) },
    });
    // What a status page would listen to: the latest decision per camera, and events delivered upstream.
    agent.bus.on('decision', 'test', (d) => decisions.set(d.camera, { seq: d.seq, n: (decisions.get(d.camera)?.n ?? 0) + 1 }));
    agent.bus.on('eventDelivered', 'test', (d) => delivered.push(d.eventId));
    // The gate's second switch-on: its value file becomes a folder, so the switch-off fails and the output is stuck.
    let ons = 0;
    let last = '0';
    const watch = setInterval(() => {
      if (stuckAt >= 0) return;
      let v: string;
      try {
        v = readFileSync(value, 'utf8').trim();
      } catch {
        return;
      }
      if (v === '1' && last !== '1' && ++ons === 2) {
        rmSync(value);
        mkdirSync(value);
        stuckAt = Date.now();
      }
      last = v;
    }, 2);
    try {
      await agent.start();
      await agent.run();
      // Late reports from the output thread (a pulse that fired at the very end) settle first.
      await new Promise((r) => setTimeout(r, 500));
      summary = agent.summary();
      const url = agent.healthUrl()!;
      metrics = await (await fetch(`${url}/metrics`)).text();
      healthz = (await (await fetch(`${url}/healthz`)).json()) as typeof healthz;
    } finally {
      clearInterval(watch);
      await agent.stop(3_000);
    }
    // The final retained status (state offline, reason stopped) carries the counts at the stop.
    const until = Date.now() + 5_000;
    while (!statuses.some((s) => s.state === 'offline') && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  }, 180_000);

  afterAll(async () => {
    await sub?.close();
    await evSub?.close();
    await broker?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const metric = (name: string, labels = ''): number => {
    const line = metrics.split('\n').find((l) => l.startsWith(`${name}${labels} `));
    return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
  };
  const finalStatus = (): { counts: Record<string, any> } => statuses.filter((s) => s.state === 'offline').at(-1) as { counts: Record<string, any> };

  it('each fault really happened', () => {
    expect(summary.dropped).toBeGreaterThan(0);
    expect(summary.pulses.fired).toBeGreaterThanOrEqual(2);
    expect(stuckAt).toBeGreaterThan(0);
    expect(summary.pulses.stuck).toBe(1);
    expect(summary.restarts.backend).toBe(1);
    expect(summary.events).toBeGreaterThan(0);
    expect(summary.sinkFailures.jsonl).toBe(summary.events);
    // The stuck gate refuses the pulses after it.
    expect(summary.pulses.refused).toBeGreaterThan(0);
  });

  it('the bus tells a status page the latest decision per camera and which events reached the broker', () => {
    expect(decisions.get('default')!.n).toBe(metric('edge_agent_inferences_total'));
    expect(decisions.get('default')!.seq).toBeGreaterThan(0);
    expect(new Set(delivered)).toEqual(new Set(events.map((e) => e.id)));
    expect(finalStatus().counts.events.delivered).toBe(delivered.length);
  });

  it('metrics say what the run summary says', () => {
    expect(metric('edge_agent_frames_total')).toBe(summary.frames);
    expect(metric('edge_agent_frames_dropped_total', '{reason="latest"}')).toBe(summary.dropped);
    expect(metric('edge_agent_actuations_total', '{output="reject_gate",result="fired"}')).toBe(summary.pulses.fired);
    expect(metric('edge_agent_actuations_total', '{output="reject_gate",result="stuck"}')).toBe(summary.pulses.stuck);
    expect(metric('edge_agent_actuations_total', '{output="reject_gate",result="scheduled"}')).toBe(summary.pulses.scheduled);
    expect(metric('edge_agent_actuations_total', '{output="reject_gate",result="refused"}')).toBe(summary.pulses.refused);
    expect(metric('edge_agent_restarts_total', '{component="backend"}')).toBe(summary.restarts.backend);
    expect(metric('edge_agent_events_total', '{result="queued"}')).toBe(summary.events);
    expect(metric('edge_agent_sink_failures_total', '{sink="jsonl"}')).toBe(summary.sinkFailures.jsonl);
    expect(metric('edge_agent_inference_seconds_count')).toBeGreaterThan(0);
    expect(metrics).toMatch(/^edge_agent_build_info\{version="0\.1\.0",node="[^"]+",arch="[^"]+"\} 1$/m);
  });

  it('/healthz says the same', () => {
    const c = healthz.counts;
    expect(healthz.frames).toBe(summary.frames);
    expect(c.frames).toBe(summary.frames);
    expect(c.dropped.latest).toBe(summary.dropped);
    expect(c.pulses).toEqual(summary.pulses);
    expect(c.restarts).toEqual(summary.restarts);
    expect(c.events.queued).toBe(summary.events);
    expect(c.sinkFailures).toEqual(summary.sinkFailures);
  });

  it('the retained MQTT status says the same', () => {
    const c = finalStatus().counts;
    expect(c.frames).toBe(summary.frames);
    expect(c.dropped.latest).toBe(summary.dropped);
    expect(c.pulses).toEqual(summary.pulses);
    expect(c.restarts).toEqual(summary.restarts);
    expect(c.events.queued).toBe(summary.events);
    expect(c.sinkFailures).toEqual(summary.sinkFailures);
  });

  it('docs/install.md lists exactly the metrics a real run exposes, with their types', () => {
    const real = Object.fromEntries([...metrics.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
    expect(docMetricsTable(readFileSync(join(root, 'docs', 'install.md'), 'utf8'))).toEqual(real);
  });

  it('docs/mqtt.md shows the status and event payloads a real run publishes (same fields)', () => {
    const doc = readFileSync(join(root, 'docs', 'mqtt.md'), 'utf8');
    const online = statuses.find((s) => s.state === 'online')!;
    expect(keyPaths(docJsonBlock(doc, '### Status', 0))).toEqual(keyPaths(online));
    expect(keyPaths(docJsonBlock(doc, '### Status', 1))).toEqual(keyPaths(finalStatus()));
    expect(events.length).toBeGreaterThan(0);
    expect(keyPaths(docJsonBlock(doc, '### Event payload', 0))).toEqual(keyPaths(events[0]!));
  });
});
