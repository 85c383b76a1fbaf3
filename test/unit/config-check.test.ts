import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkConfigFile, checkConfigText } from '../../agent/config/load.js';

const repo = resolve(import.meta.dirname, '..', '..');
const corpus = join(repo, 'test/fixtures/bad-configs');
const cli = join(repo, 'bin/edge-agent.js');
const built = existsSync(join(repo, 'dist/agent/cli/commands/check-config.js'));

/** The `# expect: path` header lines of a fixture. */
function expected(file: string): string[] {
  return [...readFileSync(file, 'utf8').matchAll(/^# expect: (.+)$/gm)].map((m) => m[1]!.trim()).filter((p) => p !== '(none)');
}

const fixtures = readdirSync(corpus)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

describe('bad-config corpus: checkConfigFile', () => {
  it('has the cases the issue asks for', () => {
    for (const name of ['syntax-error', 'unknown-key', 'wrong-type', 'out-of-range', 'missing-model-file', 'duplicate-output-line', 'rule-missing-output', 'pulse-too-long', 'invalid-polygon', 'bad-schedule-time']) {
      expect(fixtures).toContain(`${name}.yaml`);
    }
  });

  for (const f of fixtures) {
    it(`${f}: reports exactly the expected paths, each with a line`, async () => {
      const res = await checkConfigFile(join(corpus, f));
      const want = expected(join(corpus, f));
      expect(res.ok).toBe(want.length === 0);
      expect([...new Set(res.problems.map((p) => p.path))].sort()).toEqual([...new Set(want)].sort());
      for (const p of res.problems) expect(p.line, `${p.path} has a line`).toBeGreaterThan(0);
    });
  }

  it('the installed default config is valid as text', () => {
    expect(checkConfigText(readFileSync(join(repo, 'config/default.yaml'), 'utf8')).problems).toEqual([]);
  });

  it('a cross-field problem is still found when another section is broken', () => {
    const text = readFileSync(join(corpus, 'rule-missing-output.yaml'), 'utf8').replace('device: /dev/video0', 'device: 42');
    const paths = checkConfigText(text).problems.map((p) => p.path);
    expect(paths).toEqual(expect.arrayContaining(['source.device', 'rules[0].actions[0].output']));
  });

  it('quotes the offending value', async () => {
    const res = await checkConfigFile(join(corpus, 'out-of-range.yaml'));
    expect(res.problems.find((p) => p.path === 'tracker.iou')?.message).toMatch(/\(got 1\.5\)$/);
  });

  it('an unreadable file is a CONFIG_NOT_FOUND AgentError (exit 78)', async () => {
    await expect(checkConfigFile(join(corpus, 'nope.yaml'))).rejects.toMatchObject({ code: 'CONFIG_NOT_FOUND', exitCode: 78 });
  });
});

describe('bad-config corpus: `edge-agent check-config` (built CLI)', () => {
  it('dist/ is built (npm run build) so the CLI can be tested', () => {
    expect(built, 'run `npm run build` first').toBe(true);
  });

  for (const f of fixtures) {
    it.runIf(built)(`${f}: exit status, one line per problem naming its path, no stack trace`, () => {
      const file = join(corpus, f);
      const r = spawnSync(process.execPath, [cli, 'check-config', file], { encoding: 'utf8' });
      const want = expected(file);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      if (want.length === 0) {
        expect(r.status).toBe(0);
        expect(r.stdout).toMatch(new RegExp(`^ok: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is valid\nsource v4l2 /dev/video0; model model; 1 rule; outputs: reject \\(gpiochip\\), lamp \\(gpiochip\\); events: jsonl; health: 127\\.0\\.0\\.1:9464\n$`));
        return;
      }
      expect(r.status).toBe(78);
      const lines = r.stdout.trimEnd().split('\n');
      for (const line of lines) expect(line.startsWith(`${file}:`), line).toBe(true);
      const paths = lines.map((l) => /^[^:]+:(\d+): (\S+): .+$/.exec(l)?.[2]);
      expect(paths.every(Boolean), lines.join('\n')).toBe(true);
      expect([...new Set(paths)].sort()).toEqual([...new Set(want)].sort());
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(new RegExp(`^edge-agent: ${lines.length} problems? in `));
    });
  }

  it.runIf(built)('--json gives the same problems machine-readably', () => {
    const r = spawnSync(process.execPath, [cli, 'check-config', '--json', join(corpus, 'many-problems.yaml')], { encoding: 'utf8' });
    expect(r.status).toBe(78);
    const out = JSON.parse(r.stdout) as { ok: boolean; problems: Array<{ path: string; line: number }> };
    expect(out.ok).toBe(false);
    expect(out.problems.map((p) => p.path).sort()).toEqual(expected(join(corpus, 'many-problems.yaml')).sort());
  });

  it.runIf(built)('a missing file: one line, exit 78; no FILE: one line, exit 64', () => {
    const missing = spawnSync(process.execPath, [cli, 'check-config', join(corpus, 'nope.yaml')], { encoding: 'utf8' });
    expect(missing.status).toBe(78);
    expect(missing.stderr).toMatch(/^edge-agent: config file .*nope\.yaml cannot be read: check the path given .*\n$/);
    const none = spawnSync(process.execPath, [cli, 'check-config'], { encoding: 'utf8' });
    expect(none.status).toBe(64);
    expect(none.stderr.trimEnd().split('\n')).toHaveLength(1);
  });
});
