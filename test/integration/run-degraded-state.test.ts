/**
 * A state folder that cannot stop the line, end to end (issue 22, finding 2): `edge-agent run` with --state-dir
 * a file, or a read-only mount, and a real mosquitto: the agent starts, the loop runs, every reject pulse fires,
 * exit 0, no stack trace from the outbox; it says once that events are not durable, and why.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mosquittoAvailable, startBroker, type Broker } from '../../drivers/mqtt/broker.js';
import { writeScene } from '../../scripts/demo-scene/index.js';
import { repoRoot, runCli } from '../helpers/cli.js';

const ready = existsSync(join(repoRoot, 'models', 'conveyor-demo', 'manifest.json')) && existsSync(join(repoRoot, 'dist', 'agent', 'cli', 'main.js')) && mosquittoAvailable();
const root = process.getuid?.() === 0;
let dir: string;
let broker: Broker | undefined;
const mounts: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'run-degraded-'));
  if (!ready) return;
  await writeScene(dir, { seed: 7171 });
  broker = await startBroker({ dir: join(dir, 'broker') });
}, 120_000);
afterAll(async () => {
  for (const m of mounts.splice(0).reverse()) spawnSync('umount', [m]);
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function runWithState(state: string, name: string) {
  const journal = join(dir, `${name}-outputs.jsonl`);
  const r = await runCli(
    ['run', '--config', join(repoRoot, 'config', 'conveyor-demo.yaml'), '--source', join(dir, 'conveyor.mp4'), '--until-eof', '--simulate-outputs', journal, '--state-dir', state, '--mqtt', broker!.url],
    { env: { EDGE_AGENT_LOG_LEVEL: 'warn' }, timeoutMs: 180_000 },
  );
  const logs = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg: string; component?: string; level: number; err?: unknown });
  const pulses = existsSync(journal) ? readFileSync(journal, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { value: number }).filter((j) => j.value === 1).length : 0;
  const anomalies = Number(/anomalies: (\d+)/.exec(r.stdout)?.[1]);
  return { r, logs, pulses, anomalies };
}

describe.skipIf(!ready)('run with an unusable state folder (real mosquitto, bundled demo model)', () => {
  it('--state-dir is a file: runs to the end, every pulse fires, one "not durable" line from the outbox', async () => {
    const file = join(dir, 'state-file');
    writeFileSync(file, 'not a folder');
    const { r, logs, pulses, anomalies } = await runWithState(file, 'file');
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    expect(anomalies).toBeGreaterThan(0);
    expect(pulses).toBe(anomalies);
    const outbox = logs.filter((l) => l.component === 'outbox');
    expect(outbox.filter((l) => /^degraded: events not durable \(a path component is a file, not a folder: .*state-file\/outbox \(ENOTDIR\)\)/.test(l.msg))).toHaveLength(1);
    expect(outbox.filter((l) => /not queued/.test(l.msg))).toHaveLength(1);
    expect(outbox.some((l) => l.err !== undefined)).toBe(false);
  });

  it.skipIf(!root)('a read-only state folder (bind mount): runs to the end, every pulse fires', async () => {
    const state = join(dir, 'ro-state');
    mkdirSync(state);
    expect(spawnSync('mount', ['--bind', state, state]).status).toBe(0);
    mounts.push(state);
    expect(spawnSync('mount', ['-o', 'remount,bind,ro', state]).status).toBe(0);
    const { r, logs, pulses, anomalies } = await runWithState(state, 'ro');
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    expect(pulses).toBe(anomalies);
    expect(logs.filter((l) => l.component === 'outbox' && /^degraded: events not durable \(read-only filesystem: .*\(EROFS\)\)/.test(l.msg))).toHaveLength(1);
  });
});
