/**
 * `node bin/edge-agent.js` (the README's form) skips the #! line: the CLI starts itself again with the line's node
 * flags and environment (issue 22, finding 9), so the agent runs with the same memory settings however it is started.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AGENT_ENV, AGENT_NODE_FLAGS } from '../../agent/paths.js';
import { repoRoot } from '../helpers/cli.js';

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'bin-flags-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Every node process started records its flags, environment and whether it ran the CLI's main module. */
function probe(): { env: NodeJS.ProcessEnv; records: () => Array<{ pid: number; execArgv: string[]; arena?: string; argv: string[] }> } {
  const out = join(dir, 'procs.jsonl');
  const file = join(dir, 'probe.cjs');
  writeFileSync(file, `require('fs').appendFileSync(${JSON.stringify(out)}, JSON.stringify({ pid: process.pid, execArgv: process.execArgv, arena: process.env.MALLOC_ARENA_MAX, argv: process.argv.slice(1) }) + '\\n');\n`);
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: `--require ${file}` };
  delete env.MALLOC_ARENA_MAX;
  delete env.EDGE_AGENT_REEXEC;
  return { env, records: () => readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l)) };
}

describe('bin/edge-agent.js keeps the #! line\'s node flags', () => {
  it('node bin/edge-agent.js: the process that runs the command has AGENT_NODE_FLAGS and AGENT_ENV; exit status and output pass through', () => {
    const p = probe();
    const r = spawnSync(process.execPath, [join(repoRoot, 'bin', 'edge-agent.js'), 'check-config', join(repoRoot, 'config', 'nonexistent.yaml')], { env: p.env, encoding: 'utf8' });
    expect(r.status).toBe(78);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    const recs = p.records();
    const last = recs[recs.length - 1]!;
    for (const f of AGENT_NODE_FLAGS) expect(last.execArgv).toContain(f);
    expect(last.arena).toBe(AGENT_ENV.MALLOC_ARENA_MAX);
    expect(recs).toHaveLength(2); // started once more, not in a loop
  });

  it('started with the flags already (the #! line, the systemd unit): no second process', () => {
    const p = probe();
    const r = spawnSync(process.execPath, [...AGENT_NODE_FLAGS, join(repoRoot, 'bin', 'edge-agent.js'), '--help'], { env: { ...p.env, ...AGENT_ENV }, encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(p.records()).toHaveLength(1);
  });
});

describe('bin/edge-agent.js started again: one process to the outside', () => {
  it('killing the started process (SIGKILL) takes the agent with it', async () => {
    const { spawn } = await import('node:child_process');
    const { existsSync } = await import('node:fs');
    const p = probe();
    const cfg = join(dir, 'valve.yaml');
    writeFileSync(cfg, readFileSync(join(repoRoot, 'config', 'default.yaml'), 'utf8').replace('maxOnMs: 500', 'maxOnMs: 60000'));
    const proc = spawn(process.execPath, [join(repoRoot, 'bin', 'edge-agent.js'), 'actuate', 'reject', '--on', '30', '--config', cfg, '--simulate-outputs', join(dir, 'j.jsonl')], { env: p.env, stdio: 'ignore' });
    const until = Date.now() + 20_000;
    while (!existsSync(join(dir, 'j.jsonl')) || readFileSync(join(dir, 'j.jsonl'), 'utf8').split('\n').filter(Boolean).length < 2) {
      if (Date.now() > until) throw new Error('the output never went on');
      await new Promise((r) => setTimeout(r, 50));
    }
    const agent = p.records().find((x) => x.pid !== proc.pid)!;
    expect(agent.argv).toContain('actuate');
    proc.kill('SIGKILL');
    const gone = Date.now() + 10_000;
    while (existsSync(`/proc/${agent.pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${agent.pid}/status`, 'utf8'))) {
      if (Date.now() > gone) throw new Error(`agent ${agent.pid} outlived the killed wrapper`);
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  it('under systemd (NOTIFY_SOCKET) it is not started again: the agent must be the main PID', () => {
    const q = probe();
    const r = spawnSync(process.execPath, [join(repoRoot, 'bin', 'edge-agent.js'), '--help'], { env: { ...q.env, NOTIFY_SOCKET: join(dir, 'nosock') }, encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(q.records()).toHaveLength(1);
  });
});
