import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveInferenceThread } from '../../agent/model/inference-thread.js';

/** `edge-agent bench` as a user runs it: the built CLI, real ONNX Runtime on the bundled demo model's variants. */
const repo = resolve(__dirname, '..', '..');
const haveDist = existsSync(resolve(repo, 'dist', 'agent', 'cli', 'commands', 'bench.js'));
const demo = resolve(repo, 'models', 'conveyor-demo', 'manifest.json');
const state = mkdtempSync(join(tmpdir(), 'bench-cli-'));
afterAll(() => rmSync(state, { recursive: true, force: true }));

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [resolve(repo, 'bin', 'edge-agent.js'), 'bench', ...args], { encoding: 'utf8', env: { ...process.env, EDGE_AGENT_EDGETPU_LIB: '' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

type Out = { model: string; cached: boolean; rows: Array<Record<string, any>> };

describe.skipIf(!haveDist)(`edge-agent bench${haveDist ? '' : ' (skipped: run npm run build)'}`, () => {
  const manifest = JSON.parse(readFileSync(demo, 'utf8'));
  const onnx = manifest.variants.filter((x: { runtime: string }) => x.runtime === 'onnxruntime');
  // What `auto` picks for a camera on this machine (the thread the agent would run inference in).
  const autoThread = resolveInferenceThread('auto').thread;
  const other = autoThread === 'main' ? 'worker' : 'main';

  it('times every ONNX variant in the thread auto picks and caches the medians under the variant sha256', () => {
    const r = cli('--model', demo, '--runs', '5', '--state-dir', state, '--json');
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as Out;
    expect(out.model).toBe(manifest.name);
    expect(out.cached).toBe(true);
    expect(out.rows.map((x) => x.variant)).toEqual(manifest.variants.map((v: { name: string }) => v.name));
    for (const row of out.rows.filter((x) => x.runtime === 'onnxruntime')) {
      expect(row).toMatchObject({ ranOn: 'cpu', thread: autoThread });
      expect(row.medianMs).toBeGreaterThan(0);
      expect(row.p99Ms).toBeGreaterThanOrEqual(row.medianMs);
      expect(row.utility).toBeCloseTo(100 * row.mAP50 - row.medianMs, 6);
    }
    // The cache the selector reads: one entry per ONNX variant, keyed by its file's sha256.
    const cache = JSON.parse(readFileSync(join(state, 'bench-cache.json'), 'utf8'));
    const [entries] = Object.values(cache.entries) as Array<Record<string, { variant: string; medianMs: number; runs: number }>>;
    for (const v of onnx) expect(entries![v.sha256]).toMatchObject({ variant: v.name, runs: 5, medianMs: out.rows.find((x) => x.variant === v.name)!.medianMs });
  }, 120_000);

  it('times in the other thread when asked, and leaves the cached figures alone', () => {
    const before = readFileSync(join(state, 'bench-cache.json'), 'utf8');
    const r = cli('--model', demo, '--runs', '5', '--state-dir', state, '--inference-thread', other, '--json');
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as Out;
    expect(out.cached).toBe(false);
    for (const row of out.rows.filter((x) => x.runtime === 'onnxruntime')) expect(row).toMatchObject({ thread: other, ranOn: 'cpu' });
    expect(readFileSync(join(state, 'bench-cache.json'), 'utf8')).toBe(before);
  }, 120_000);

  it('refuses an unknown --inference-thread with one line that names the choices', () => {
    const r = cli('--model', demo, '--inference-thread', 'gpu');
    expect(r.status).toBe(64);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^edge-agent: --inference-thread must be auto, main or worker, not "gpu".*pass --inference-thread auto, main or worker/);
  });
});
