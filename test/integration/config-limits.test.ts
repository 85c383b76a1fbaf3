/**
 * Configs that could exhaust the device (issue 22, finding 6): a "billion laughs" YAML, a 50 MB file and
 * thousands of rules are refused with one line and exit 78 (EX_CONFIG); a SIGHUP reload is parsed on a worker
 * thread so the frame loop keeps turning.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stringify, parse } from 'yaml';
import { checkConfigText, loadConfigFile, loadConfigFileOffThread, MAX_CONFIG_BYTES, MAX_RULES } from '../../agent/config/load.js';
import { plainLines, repoRoot, runCli } from '../helpers/cli.js';

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'config-limits-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const demo = () => parse(readFileSync(join(repoRoot, 'config', 'conveyor-demo.yaml'), 'utf8')) as Record<string, unknown> & { rules: unknown[] };

/** Nine levels of nine aliases each: 9^9 (387 million) strings once expanded. */
function billionLaughs(): string {
  const lines = ['a0: &a0 "lol"'];
  for (let i = 1; i <= 9; i++) lines.push(`a${i}: &a${i} [${Array.from({ length: 9 }, () => `*a${i - 1}`).join(', ')}]`);
  return `${lines.join('\n')}\n`;
}

describe('config limits', () => {
  it('a billion-laughs YAML: one line naming the aliases, exit 78, no stack', async () => {
    const file = join(dir, 'laughs.yaml');
    writeFileSync(file, billionLaughs());
    expect(checkConfigText(billionLaughs()).problems[0]).toMatchObject({ path: '(aliases)', message: expect.stringMatching(/aliases expand too far/) });
    const r = await runCli(['run', '--config', file, '--source', join(dir, 'none.mp4')]);
    expect(r.code).toBe(78);
    const lines = plainLines(r.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/laughs\.yaml.*aliases expand too far/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a 50 MB config is refused by its size before it is read: one line, exit 78', async () => {
    const file = join(dir, 'big.yaml');
    const fd = openSync(file, 'w');
    const chunk = Buffer.from(`# ${'x'.repeat(1021)}\n`);
    for (let i = 0; i < 50 * 1024; i++) writeSync(fd, chunk);
    closeSync(fd);
    expect(() => loadConfigFile(file)).toThrow(/big\.yaml is 50\.0 MB; the limit is 1\.0 MB/);
    const r = await runCli(['check-config', file]);
    expect(r.code).toBe(78);
    expect(plainLines(r.stderr).join('\n')).toMatch(/is 50\.0 MB; the limit is 1\.0 MB/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(checkConfigText('#'.repeat(MAX_CONFIG_BYTES + 1)).problems[0]!.message).toMatch(/the limit is 1\.0 MB/);
  });

  it('more rules than the limit: refused with the count', () => {
    const cfg = demo();
    cfg.rules = Array.from({ length: MAX_RULES + 1 }, (_, i) => ({ ...(cfg.rules[0] as object), name: `r${i}` }));
    const res = checkConfigText(stringify(cfg, { aliasDuplicateObjects: false }));
    expect(res.ok).toBe(false);
    expect(res.problems).toEqual([{ path: 'rules', line: expect.any(Number), message: `${MAX_RULES + 1} rules; the limit is ${MAX_RULES}` }]);
  });
});

const distWorker = join(repoRoot, 'dist', 'agent', 'config', 'load-worker.js');
describe.skipIf(!existsSync(distWorker))('SIGHUP reload off the frame loop (dist build)', () => {
  it('parses on a worker thread: the event loop keeps turning meanwhile, and the result equals an inline load', async () => {
    // A config near the size limit: many rules.
    const cfg = demo();
    cfg.model = { ...(cfg.model as object), manifest: join(repoRoot, 'models', 'conveyor-demo', 'manifest.json') };
    cfg.rules = Array.from({ length: MAX_RULES }, (_, i) => ({ ...(cfg.rules[0] as object), name: `rule-${i}` }));
    const file = join(dir, 'many.yaml');
    writeFileSync(file, `${stringify(cfg, { aliasDuplicateObjects: false })}${'# padding\n'.repeat(40_000)}`);
    let ticks = 0;
    const t = setInterval(() => ticks++, 1);
    const off = await loadConfigFileOffThread(file, distWorker);
    clearInterval(t);
    expect(ticks).toBeGreaterThan(0);
    expect(off).toEqual(loadConfigFile(file));
    // Errors come back typed, as from loadConfigFile.
    writeFileSync(file, billionLaughs());
    await expect(loadConfigFileOffThread(file, distWorker)).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringMatching(/aliases expand too far/) });
  });
});
