import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const child = join(repo, 'test', 'fixtures', 'gpio', 'crash-child.mjs');
const dir = mkdtempSync(join(tmpdir(), 'outputs-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  journal: Array<{ output: string; value: number; reason: string }>;
}

function run(mode: string, threaded: boolean, signal?: NodeJS.Signals): Promise<Run> {
  const journal = join(dir, `${mode}-${signal ?? ''}-${threaded ? 't' : 'p'}.jsonl`);
  return new Promise((resolveRun, reject) => {
    const p = spawn(process.execPath, [child, mode, journal, threaded ? '1' : '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.stdout.on('data', (d: Buffer) => {
      if (signal && d.toString().includes('ready')) p.kill(signal);
    });
    const timer = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.on('error', reject);
    p.on('close', (code, sig) => {
      clearTimeout(timer);
      const lines = existsSync(journal) ? readFileSync(journal, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
      resolveRun({ code, signal: sig, stderr, journal: lines });
    });
  });
}

function lastValue(r: Run, output: string): { value: number; reason: string } | undefined {
  return r.journal.filter((e) => e.output === output).at(-1);
}

const built = existsSync(join(repo, 'dist', 'agent', 'actuators', 'index.js'));

describe.skipIf(!built)('outputs safe on every way out of a real process (needs dist/: npm run build)', () => {
  for (const threaded of [true, false]) {
    const mode = threaded ? 'worker thread' : 'in-process';
    it(`${mode}: an uncaught exception leaves both outputs at 0 and the process still dies with the error`, async () => {
      const r = await run('throw', threaded);
      expect(r.journal.filter((e) => e.value === 1).map((e) => e.output).sort()).toEqual(['gate', 'valve']);
      expect(lastValue(r, 'valve')).toEqual(expect.objectContaining({ value: 0, reason: 'uncaught exception' }));
      expect(lastValue(r, 'gate')).toEqual(expect.objectContaining({ value: 0, reason: 'uncaught exception' }));
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('boom: a bug in the frame loop');
    });

    it(`${mode}: an unhandled rejection leaves both outputs at 0`, async () => {
      const r = await run('reject', threaded);
      expect(lastValue(r, 'valve')).toEqual(expect.objectContaining({ value: 0, reason: 'unhandled rejection' }));
      expect(lastValue(r, 'gate')).toEqual(expect.objectContaining({ value: 0, reason: 'unhandled rejection' }));
      expect(r.code).toBe(1);
    });

    it(`${mode}: SIGTERM and SIGINT leave both outputs at 0 and exit 143 / 130`, async () => {
      const term = await run('signal', threaded, 'SIGTERM');
      expect(lastValue(term, 'valve')).toEqual(expect.objectContaining({ value: 0, reason: 'signal SIGTERM' }));
      expect(lastValue(term, 'gate')).toEqual(expect.objectContaining({ value: 0, reason: 'signal SIGTERM' }));
      expect(term.code).toBe(143);
      const int = await run('signal', threaded, 'SIGINT');
      expect(lastValue(int, 'valve')).toEqual(expect.objectContaining({ value: 0, reason: 'signal SIGINT' }));
      expect(int.code).toBe(130);
    });
  }

  it('worker thread: process.exit() from anywhere leaves the outputs at 0', async () => {
    const r = await run('exit', true);
    expect(lastValue(r, 'valve')).toEqual(expect.objectContaining({ value: 0, reason: 'exit' }));
    expect(lastValue(r, 'gate')).toEqual(expect.objectContaining({ value: 0, reason: 'exit' }));
    expect(r.code).toBe(3);
  });
});

