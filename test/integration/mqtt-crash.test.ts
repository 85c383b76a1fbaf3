import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { mosquittoAvailable, startBroker, subscribe, type Broker, type ReceivedMessage, type Subscription } from '../../drivers/mqtt/broker.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const emitCli = path.join(repo, 'dist', 'scripts', 'mqtt-emit.js');
const ready = mosquittoAvailable() && existsSync(emitCli);

async function waitFor(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The publishing agent as a separate process (dist build), so it can really be SIGKILLed. */
function agent(args: string[]): { proc: ChildProcess; lines: Array<Record<string, unknown>>; exited: Promise<number | null>; stderr: () => string } {
  const proc = spawn(process.execPath, [emitCli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Array<Record<string, unknown>> = [];
  let err = '';
  readline.createInterface({ input: proc.stdout! }).on('line', (l) => lines.push(JSON.parse(l) as Record<string, unknown>));
  proc.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { proc, lines, exited, stderr: () => err };
}

describe.skipIf(!ready)('agent process killed with SIGKILL (real mosquitto, dist build)', () => {
  let tmp: string;
  let broker: Broker | undefined;
  let sub: Subscription | undefined;
  const children: ChildProcess[] = [];

  beforeEach(async () => {
    tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'mqtt-crash-'));
  });
  afterEach(async () => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await sub?.close();
    await broker?.stop();
    sub = undefined;
    broker = undefined;
    await fsp.rm(tmp, { recursive: true, force: true });
  });

  it('delivers after the restart every event queued before the kill (broker down meanwhile)', async () => {
    broker = await startBroker({ dir: path.join(tmp, 'broker'), persistence: true });
    const got: string[] = [];
    sub = await subscribe(broker.url, 'edge-agent/crashy/events', (m: ReceivedMessage) => got.push((JSON.parse(m.payload.toString()) as { id: string }).id), { clientId: 'collector-crash' });
    await broker.stop();

    const stateDir = path.join(tmp, 'state');
    const first = agent(['--url', broker.url, '--state-dir', stateDir, '--device', 'crashy', '--count', '100000', '--interval-ms', '1']);
    children.push(first.proc);
    await waitFor(() => first.lines.length >= 40, 20_000, `40 events queued (stderr: ${first.stderr()})`);
    first.proc.kill('SIGKILL');
    await first.exited;
    const queued = first.lines.filter((l) => typeof l.queued === 'string').map((l) => l.queued as string);
    expect(queued.length).toBeGreaterThanOrEqual(40);

    await broker.restart();
    const second = agent(['--url', broker.url, '--state-dir', stateDir, '--device', 'crashy', '--count', '0', '--drain']);
    children.push(second.proc);
    expect(await second.exited).toBe(0);
    await waitFor(() => queued.every((id) => got.includes(id)), 10_000, 'every queued event at the subscriber');
    // In order: the acknowledged-as-queued events arrive as a prefix-ordered run (an event being written
    // at the kill may follow them; nothing acknowledged is missing or reordered).
    const firstSeen = [...new Set(got)];
    expect(firstSeen.slice(0, queued.length)).toEqual(queued);
  });

  it('flips the retained status to offline through the Last Will when the agent is SIGKILLed', async () => {
    broker = await startBroker({ dir: path.join(tmp, 'broker') });
    const status: Array<{ state: string; reason?: string }> = [];
    sub = await subscribe(broker.url, 'edge-agent/lwt/status', (m) => status.push(JSON.parse(m.payload.toString()) as { state: string }));
    const a = agent(['--url', broker.url, '--state-dir', path.join(tmp, 'state'), '--device', 'lwt', '--count', '1', '--hold', '--drain']);
    children.push(a.proc);
    await waitFor(() => status.some((s) => s.state === 'online'), 10_000, 'online status');
    await waitFor(() => a.lines.some((l) => l.drained === true), 10_000, 'the event delivered');
    a.proc.kill('SIGKILL');
    await a.exited;
    await waitFor(() => status.at(-1)?.state === 'offline', 10_000, 'offline status from the Last Will');
    expect(status.at(-1)).toMatchObject({ state: 'offline', reason: 'connection lost', device: 'lwt' });
    // Retained: a subscriber arriving later sees offline too.
    const late: ReceivedMessage[] = [];
    const s2 = await subscribe(broker.url, 'edge-agent/lwt/status', (m) => late.push(m));
    await waitFor(() => late.length > 0, 5_000, 'retained status');
    expect(late[0]!.retain).toBe(true);
    expect(JSON.parse(late[0]!.payload.toString()).state).toBe('offline');
    await s2.close();
  });
});

if (!ready) {
  describe('agent process killed with SIGKILL', () => {
    it.skip(`skipped: needs mosquitto and the dist build (run npm run build first): ${emitCli}`, () => undefined);
  });
}
