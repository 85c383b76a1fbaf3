import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { repoRoot } from '../helpers/cli.js';
import { hashPassword } from '../../agent/status/auth.js';
import { writeScene } from '../../scripts/demo-scene/index.js';

/**
 * `edge-agent run` (the built CLI, a child process: real ffmpeg, ONNX Runtime, the output worker writing the
 * dry-run journal) serves the status page on its health listener: the page and its data at / and /status/*, the
 * built-in /healthz and /metrics as before, actions refused without a login and done once with one; with
 * status.enabled false the listener is what it was.
 */
const modelReady = existsSync(join(repoRoot, 'models', 'conveyor-demo', 'manifest.json'));
const built = existsSync(join(repoRoot, 'dist', 'agent', 'cli', 'main.js'));
if (!modelReady) console.warn('status agent tests skipped: models/conveyor-demo is missing');
if (!built) console.warn('status agent tests skipped: dist/ is not built (npm run build)');
const PASSWORD = 'operator password for the test';

type JournalLine = { output: string; value: number; reason: string };

async function startAgent(dir: string, name: string, status: Record<string, unknown>): Promise<{ child: ChildProcess; url: string; journal: string; log: () => string }> {
  const cfg = parse(readFileSync(join(repoRoot, 'config', 'conveyor-demo.yaml'), 'utf8')) as Record<string, Record<string, unknown>>;
  cfg.source!.path = join(dir, 'conveyor.mp4');
  cfg.model!.manifest = join(repoRoot, 'models', 'conveyor-demo', 'manifest.json');
  cfg.outputs!.test_lamp = { driver: { type: 'dry-run' }, maxOnMs: 500 };
  cfg.health = { enabled: true, listen: '127.0.0.1:0' };
  cfg.status = status;
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, stringify(cfg));
  const journal = join(dir, `${name}-outputs.jsonl`);
  const child = spawn(process.execPath, [join(repoRoot, 'bin', 'edge-agent.js'), 'run', '--config', file, '--simulate-outputs', journal, '--state-dir', join(dir, `${name}-state`)], {
    env: { ...process.env, EDGE_AGENT_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const url = await new Promise<string>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`the agent did not report its health endpoint:\n${out.slice(-2000)}`)), 60_000);
    const look = () => {
      const m = /"url":"(http:\/\/127\.0\.0\.1:\d+)"[^\n]*health endpoint listening/.exec(out);
      if (m && /agent started/.test(out)) {
        clearTimeout(timer);
        res(m[1]!);
      }
    };
    child.stdout!.on('data', look);
    child.stderr!.on('data', look);
    child.on('exit', (code) => rej(new Error(`the agent exited (${code}):\n${out.slice(-2000)}`)));
  });
  return { child, url, journal, log: () => out };
}

async function stopAgent(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await done;
}

describe.skipIf(!modelReady || !built)('edge-agent run serves the status page', () => {
  let dir: string;
  let agent: Awaited<ReturnType<typeof startAgent>>;
  const journal = (): JournalLine[] => (existsSync(agent.journal) ? readFileSync(agent.journal, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as JournalLine) : []);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edge-agent-status-run-'));
    await writeScene(dir, { seed: 5151 });
    agent = await startAgent(dir, 'on', { passwordHash: hashPassword(PASSWORD, { N: 1 << 12, r: 8, p: 1 }) });
  }, 120_000);

  afterAll(async () => {
    await stopAgent(agent?.child);
  });

  it('serves the page next to /healthz and /metrics, which keep their own rules', async () => {
    const page = await fetch(`${agent.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(await page.text()).toContain('/status/app.js');
    expect((await fetch(`${agent.url}/status/app.js`)).status).toBe(200);
    // With a password, data needs a login.
    expect((await fetch(`${agent.url}/status/state`)).status).toBe(401);
    const health = await fetch(`${agent.url}/healthz`);
    expect([200, 503]).toContain(health.status);
    expect(((await health.json()) as { frames: number }).frames).toBeGreaterThanOrEqual(0);
    expect(await (await fetch(`${agent.url}/metrics`)).text()).toContain('edge_agent_frames_total');
    expect((await fetch(`${agent.url}/healthz`, { method: 'POST' })).status).toBe(405);
  });

  it('refuses an unauthenticated test pulse, and makes exactly one through the agent outputs after login', async () => {
    const body = JSON.stringify({ output: 'test_lamp', mode: 'pulse', ms: 80 });
    const anon = await fetch(`${agent.url}/status/output/test`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(anon.status).toBe(401);
    // The journal holds the output's safe level written at start, and nothing since.
    const before = journal().filter((l) => l.output === 'test_lamp');
    expect(before.filter((l) => l.value === 1)).toHaveLength(0);
    const login = await fetch(`${agent.url}/status/login`, { method: 'POST', headers: { 'content-type': 'application/json', origin: agent.url }, body: JSON.stringify({ password: PASSWORD, operator: 'tester' }) });
    expect(login.status).toBe(200);
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const { csrf } = (await login.json()) as { csrf: string };
    const state = (await (await fetch(`${agent.url}/status/state`, { headers: { cookie } })).json()) as { cameras: Array<{ name: string }>; outputs: Array<{ name: string }>; doctor?: { model?: { name: string } } };
    expect(state.cameras.map((c) => c.name)).toEqual(['default']);
    expect(state.outputs.map((o) => o.name).sort()).toEqual(['reject_gate', 'test_lamp']);
    expect(state.doctor?.model?.name).toBe('conveyor-demo');
    const ok = await fetch(`${agent.url}/status/output/test`, { method: 'POST', headers: { 'content-type': 'application/json', cookie, 'x-csrf-token': csrf, origin: agent.url }, body });
    expect(ok.status).toBe(200);
    await expect.poll(() => journal().filter((l) => l.output === 'test_lamp').length, { timeout: 10_000 }).toBe(before.length + 2);
    const on = journal().filter((l) => l.output === 'test_lamp' && l.value === 1);
    expect(on).toHaveLength(1);
    expect(on[0]!.reason).toContain('status page test by tester');
    // A live picture of the agent's camera, with the detections of the frame it shows.
    const pic = await fetch(`${agent.url}/status/frame/default.jpg?after=0&wait=10000`, { headers: { cookie } });
    expect(pic.status).toBe(200);
    expect(pic.headers.get('content-type')).toBe('image/jpeg');
    const meta = JSON.parse(decodeURIComponent(pic.headers.get('x-frame')!)) as { seq: number; width: number };
    expect(meta.width).toBeGreaterThan(0);
    expect(Buffer.from(await pic.arrayBuffer()).subarray(0, 2).toString('hex')).toBe('ffd8');
  });

  it('with status.enabled false the listener has only /healthz and /metrics', async () => {
    const off = await startAgent(dir, 'off', { enabled: false });
    try {
      const root = await fetch(`${off.url}/`);
      expect(root.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(await root.text()).toContain('edge-agent: /healthz /metrics');
      expect((await fetch(`${off.url}/status/state`)).status).toBe(404);
      expect((await fetch(`${off.url}/status/output/test`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(405);
    } finally {
      await stopAgent(off.child);
    }
  }, 90_000);
});
