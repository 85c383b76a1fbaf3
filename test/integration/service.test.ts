/**
 * The agent as systemd runs it: `edge-agent run` with NOTIFY_SOCKET pointing at a real AF_UNIX datagram
 * socket this test listens on (SO_PASSCRED, so the kernel tells us the sender PID, as systemd checks for
 * NotifyAccess=main), the health endpoint on a free port, real ffmpeg decoding a generated conveyor clip, real
 * ONNX Runtime running the bundled demo model (models/conveyor-demo: no ../shared needed), dry-run outputs
 * journaled to a file, MQTT pointed at a closed port so events queue in the outbox.
 *
 * The loop is stalled by SIGSTOP-ing the source's ffmpeg: the decoder process hangs, exactly like a wedged
 * camera driver, while the agent itself stays responsive (source.restart.stallMs is set long so the source's
 * own restart does not mask the stall during the test window).
 *
 * Nothing here is skipped by looking at the source tree: every part runs whenever the build exists, so a
 * refactor that unwires sd_notify, /healthz or the outbox fails these tests instead of turning them off.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { NotifyReceiver } from '../helpers/notify-receiver.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Outbox } from '../../agent/outbox/outbox.js';
import { writeScene } from '../../scripts/demo-scene/index.js';

const repo = resolve(import.meta.dirname, '..', '..');
const cli = join(repo, 'bin/edge-agent.js');
const built = existsSync(join(repo, 'dist/agent/cli/commands/run.js'));
const manifest = join(repo, 'models/conveyor-demo/manifest.json');
const haveModel = existsSync(manifest);
const ready = built && haveModel;
const why = !built ? ' [skipped: run `npm run build` first]' : !haveModel ? ' [skipped: models/conveyor-demo is missing from the checkout]' : '';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function until<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The ffmpeg processes whose parent is `pid` (the source's decoder). */
function ffmpegChildren(pid: number): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
        const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        return ppid === pid && comm === 'ffmpeg';
      } catch {
        return false;
      }
    })
    .map(Number);
}

let dir = '';
let clip = '';
const children: ChildProcess[] = [];
const stopped: number[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'edge-service-'));
  if (!ready) return;
  // The demo conveyor (parts passing), played in a loop, so the rule fires and pulses the output again and again.
  await writeScene(dir, { seed: 6161 });
  clip = join(dir, 'conveyor.mp4');
}, 120_000);

afterEach(() => {
  for (const pid of stopped.splice(0)) {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // gone already
    }
  }
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  proc: ChildProcess;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  stderr: () => string;
  journal: string;
  events: string;
  state: string;
  port: number;
}

async function startAgent(name: string, env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const port = await freePort();
  const mqttPort = await freePort(); // nothing listens there: events must wait in the outbox
  const cfg = join(dir, `${name}.yaml`);
  writeFileSync(
    cfg,
    `device: { id: service-test }
source:
  type: file
  path: ${clip}
  pace: realtime
  loop: true
  restart: { stallMs: 60000 }
model:
  manifest: ${manifest}
  variant: student-fp32
pipeline:
  stallMs: 1500
rules:
  - name: part-seen
    type: anomaly
    labels: { part: 0.4, defect: 0.4 }
    perTrack: false
    cooldownMs: 400
    actions:
      # Timed from capture: 500 ms of "belt travel" leaves room for the inference latency.
      - { type: pulse, output: gate, delayMs: 500, widthMs: 150 }
      - { type: event }
outputs:
  gate:
    driver: { type: dry-run }
    maxOnMs: 300
events:
  mqtt:
    url: mqtt://127.0.0.1:${mqttPort}
health:
  enabled: true
  listen: 127.0.0.1:${port}
`,
  );
  const journal = join(dir, `${name}-outputs.jsonl`);
  const events = join(dir, `${name}-events.jsonl`);
  const state = join(dir, `${name}-state`);
  const proc = spawn(process.execPath, [cli, 'run', '--config', cfg, '--simulate-outputs', journal, '--events-out', events, '--state-dir', state], {
    env: { ...process.env, EDGE_AGENT_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(proc);
  let err = '';
  proc.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  proc.stdout!.resume();
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((res) =>
    proc.once('exit', (code, signal) => res({ code, signal, at: Date.now() })),
  );
  return { proc, exit, stderr: () => err, journal, events, state, port };
}

/** Waits for `fn` while the agent runs; if it exits first, fails with the tail of its stderr. */
async function whileRunning<T>(run: Run, what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number): Promise<T> {
  return until(
    what,
    async () => {
      if (run.proc.exitCode !== null || run.proc.signalCode !== null) {
        throw new Error(`the agent exited (${run.proc.exitCode ?? run.proc.signalCode}) before ${what}:\n${run.stderr().slice(-2000)}`);
      }
      return fn();
    },
    timeoutMs,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\nagent stderr (tail):\n${run.stderr().slice(-1500)}`);
  });
}

function journalEntries(file: string): Array<{ output: string; value: number; reason: string }> {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { output: string; value: number; reason: string });
}

describe('edge-agent run as a systemd service', () => {
  it.skipIf(!ready)(`SIGTERM mid-run: exit 0 well within TimeoutStopSec, the output safe in the journal, no stack trace, queued events kept in the outbox${why}`, async () => {
    const run = await startAgent('sigterm');
    // Wait for the first real actuation (part detected -> pulse), then stop while pulses are in flight.
    await whileRunning(run, 'a pulse in the output journal', () => journalEntries(run.journal).some((e) => e.value === 1), 45_000);
    await sleep(60);
    const t0 = Date.now();
    run.proc.kill('SIGTERM');
    const { code, signal, at } = await run.exit;
    expect({ code, signal }, run.stderr()).toEqual({ code: 0, signal: null });
    // systemd's TimeoutStopSec is 20 s; the agent must finish well inside it.
    expect(at - t0).toBeLessThan(10_000);
    const entries = journalEntries(run.journal).filter((e) => e.output === 'gate');
    expect(entries.at(-1)?.value).toBe(0);
    expect(run.stderr()).not.toMatch(/\n\s+at /);

    // Broker down the whole run: every event written must still be queued on disk.
    const emitted = existsSync(run.events) ? readFileSync(run.events, 'utf8').trim().split('\n').filter(Boolean).length : 0;
    expect(emitted).toBeGreaterThan(0);
    const box = new Outbox({ dir: join(run.state, 'outbox'), maxEvents: 100_000, maxBytes: 256 * 1024 * 1024, maxAgeDays: 30 });
    await box.start();
    try {
      expect(box.durability()).toEqual({ durable: true });
      expect(box.stats().queued).toBeGreaterThanOrEqual(emitted);
    } finally {
      await box.stop();
    }
  });

  it.skipIf(!ready)(
    `sd_notify: READY after the first inference, WATCHDOG while frames flow, none while stalled, STOPPING on SIGTERM${why}`,
    async () => {
      const sock = join(dir, 'notify.sock');
      const rx = await NotifyReceiver.start(sock);
      try {
        // WATCHDOG_USEC 1 s -> a ping every 500 ms while frames flow.
        const run = await startAgent('notify', { NOTIFY_SOCKET: sock, WATCHDOG_USEC: '1000000' });
        const readyMsg = await whileRunning(run, 'READY=1', () => rx.got.find((g) => g.data.split('\n').includes('READY=1')), 45_000);
        {
          const m = await (await fetch(`http://127.0.0.1:${run.port}/metrics`)).text();
          expect(Number(/^edge_agent_inferences_total (\S+)$/m.exec(m)?.[1])).toBeGreaterThanOrEqual(1);
        }
        await sleep(2_500);
        const pings = () => rx.got.filter((g) => g.data === 'WATCHDOG=1' && g.at >= readyMsg.at).length;
        expect(pings()).toBeGreaterThanOrEqual(3);

        const ffmpeg = ffmpegChildren(run.proc.pid!);
        expect(ffmpeg.length, 'the source runs ffmpeg as a child of the agent').toBeGreaterThan(0);
        for (const pid of ffmpeg) process.kill(pid, 'SIGSTOP');
        stopped.push(...ffmpeg);
        await sleep(1_500 + 1_000); // pipeline.stallMs, then one ping interval for a ping already due
        const atStall = pings();
        {
          const h = await fetch(`http://127.0.0.1:${run.port}/healthz`);
          expect(h.status).toBe(503);
          expect(((await h.json()) as { status: string }).status).toBe('stalled');
        }
        await sleep(2_500);
        expect(pings(), 'no WATCHDOG=1 while the loop is stalled').toBe(atStall);

        for (const pid of stopped.splice(0)) process.kill(pid, 'SIGCONT');
        await whileRunning(run, 'WATCHDOG=1 again once frames flow', () => pings() > atStall, 10_000);

        run.proc.kill('SIGTERM');
        const { code } = await run.exit;
        expect(code, run.stderr()).toBe(0);
        expect(rx.got.some((g) => g.data.split('\n').includes('STOPPING=1'))).toBe(true);
        // Every datagram came from the agent's own PID (NotifyAccess=main would drop the others).
        expect(rx.got.filter((g) => g.pid !== run.proc.pid).map((g) => `${g.pid}: ${g.data}`), `agent pid ${run.proc.pid}`).toEqual([]);
      } finally {
        rx.proc.kill('SIGKILL');
      }
    },
  );

  it.skipIf(!ready)(
    `/healthz and /metrics answer with real values during a run${why}`,
    async () => {
      const run = await startAgent('health');
      const url = `http://127.0.0.1:${run.port}`;
      const body = await whileRunning(
        run,
        '/healthz 200',
        async () => {
          const r = await fetch(`${url}/healthz`).catch(() => undefined);
          return r?.status === 200 ? ((await r.json()) as { status: string; frames: number; fps: number }) : undefined;
        },
        45_000,
      );
      expect(body.status).toBe('ok');
      expect(body.frames).toBeGreaterThan(0);
      await sleep(1_500);
      const text = await (await fetch(`${url}/metrics`)).text();
      const value = (re: RegExp) => Number(re.exec(text)?.[1]);
      expect(value(/^edge_agent_fps (\S+)$/m)).toBeGreaterThan(5); // a 15 fps clip, paced in real time
      expect(value(/^edge_agent_fps (\S+)$/m)).toBeLessThan(20);
      expect(value(/^edge_agent_inferences_total (\S+)$/m)).toBeGreaterThan(10);
      expect(value(/^edge_agent_stage_latency_seconds_sum\{stage="inference"\} (\S+)$/m)).toBeGreaterThan(0);
      expect(value(/^edge_agent_inference_seconds_sum (\S+)$/m)).toBeGreaterThan(0);
      expect(value(/^edge_agent_inference_seconds_count (\S+)$/m)).toBeGreaterThan(10);
      expect(text).toMatch(/^edge_agent_accelerator_info\{kind="cpu",variant="(conveyor-demo\/)?student-(fp32|int8)"\} 1$/m);
      expect(value(/^edge_agent_actuations_total\{output="gate",result="scheduled"\} (\S+)$/m)).toBeGreaterThan(0);
      run.proc.kill('SIGTERM');
      expect((await run.exit).code).toBe(0);
    },
  );
});
