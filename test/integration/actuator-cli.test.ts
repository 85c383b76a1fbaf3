import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = join(repo, 'bin', 'edge-agent.js');
const built = existsSync(join(repo, 'dist', 'agent', 'cli', 'commands', 'actuate.js'));
const dir = mkdtempSync(join(tmpdir(), 'actuate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = join(dir, 'outputs.yaml');
writeFileSync(
  config,
  `source: { type: file, path: belt.mp4 }
model: { manifest: model/manifest.json }
outputs:
  reject_gate:
    driver: { type: gpiochip, chip: gpiochip0, line: GPIO17 }
    maxOnMs: 300
  valve:
    driver: { type: sysfs, line: 22 }
    activeLow: true
    maxOnMs: 2000
    minOffMs: 1000
`,
);

function actuate(...args: string[]) {
  return actuateWith({}, ...args);
}

function actuateWith(env: NodeJS.ProcessEnv, ...args: string[]) {
  const r = spawnSync(process.execPath, [bin, 'actuate', ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * A machine so busy that every timer the agent sets runs 80 ms late: a preload that lengthens the global
 * setTimeout/setInterval (what the output timers use), as a loaded 2-core CI box does at random.
 */
const slowTimers = join(dir, 'slow-timers.cjs');
writeFileSync(slowTimers, `const t = globalThis.setTimeout; globalThis.setTimeout = (fn, ms, ...a) => t(fn, (Number(ms) || 0) + 80, ...a);\n`);

function journal(file: string): Array<{ ts: string; output: string; value: number; reason: string; due?: string }> {
  return readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

describe.skipIf(!built)('edge-agent actuate (needs dist/: npm run build)', () => {
  it('--pulse drives the output for the width through the safety layer and leaves it off', () => {
    const j = join(dir, 'pulse.jsonl');
    const r = actuate('reject_gate', '--pulse', '120', '--config', config, '--simulate-outputs', j);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`reject_gate: pulsed 120 ms, now off (dry-run journal ${j})\n`);
    const e = journal(j);
    expect(e.map((x) => [x.output, x.value, x.reason])).toEqual([
      ['reject_gate', 0, 'start'],
      ['reject_gate', 1, 'actuate --pulse'],
      ['reject_gate', 0, 'actuate --pulse'],
      ['reject_gate', 0, 'stop'],
    ]);
    // The switch-off was planned 120 ms after the real switch-on (journaled intent), and did not come early.
    const planned = Date.parse(e[2]!.due!) - Date.parse(e[1]!.ts);
    expect(Math.abs(planned - 120)).toBeLessThanOrEqual(2); // ms resolution of two ISO timestamps
    expect(Date.parse(e[2]!.ts) - Date.parse(e[1]!.ts)).toBeGreaterThanOrEqual(119);
  });

  it('on a machine whose timers run late, --pulse and --on still wait for the output\'s own switch-off', () => {
    const env = { NODE_OPTIONS: `--require ${slowTimers}` };
    const j = join(dir, 'slow.jsonl');
    const r = actuateWith(env, 'reject_gate', '--pulse', '50', '--config', config, '--simulate-outputs', j);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(journal(j).map((x) => [x.value, x.reason])).toEqual([[0, 'start'], [1, 'actuate --pulse'], [0, 'actuate --pulse'], [0, 'stop']]);
    const h = join(dir, 'slow-on.jsonl');
    const on = actuateWith(env, 'valve', '--on', '0.1', '--config', config, '--simulate-outputs', h);
    expect(on.stderr).toBe('');
    expect(on.code).toBe(0);
    expect(journal(h).map((x) => [x.value, x.reason])).toEqual([[0, 'start'], [1, 'actuate --on'], [0, 'actuate --on'], [0, 'stop']]);
  });

  it('--on SECONDS holds a relay, and an over-limit request is refused with one line naming maxOnMs', () => {
    const j = join(dir, 'on.jsonl');
    expect(actuate('valve', '--on', '0.2', '--config', config, '--simulate-outputs', j).code).toBe(0);
    expect(journal(j).map((x) => x.value)).toEqual([0, 1, 0, 0]);
    const over = actuate('reject_gate', '--pulse', '500', '--config', config, '--simulate-outputs', join(dir, 'over.jsonl'));
    expect(over.code).toBe(78);
    expect(over.stderr).toBe(
      'edge-agent: pulse of 500 ms is longer than output "reject_gate" allows (maxOnMs 300): use at most 300 ms, or raise outputs.reject_gate.maxOnMs in the config if the hardware allows it\n',
    );
    expect(existsSync(join(dir, 'over.jsonl'))).toBe(false); // refused before anything was touched
    const overOn = actuate('valve', '--on', '3', '--config', config);
    expect(overOn.stderr).toMatch(/^edge-agent: on-time of 3000 ms is longer than output "valve" allows \(maxOnMs 2000\)/);
  });

  it('on this machine (no GPIO chip) the real driver fails at start with a specific line, exit 78', () => {
    const r = actuate('reject_gate', '--pulse', '50', '--config', config);
    expect(r.code).toBe(78);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^edge-agent: output "reject_gate": GPIO chip \/dev\/gpiochip0 does not exist: .*--simulate-outputs FILE/);
  });

  it('usage mistakes: unknown output, no mode, two modes', () => {
    const r = actuate('conveyor', '--off', '--config', config);
    expect(r.code).toBe(64);
    expect(r.stderr).toBe(`edge-agent: no output named "conveyor" in ${config}: configured outputs: reject_gate, valve\n`);
    expect(actuate('valve', '--config', config).code).toBe(64);
    expect(actuate('valve', '--off', '--pulse', '10', '--config', config).code).toBe(64);
    expect(actuate('valve', '--pulse', 'abc', '--config', config).stderr).toBe('edge-agent: --pulse needs a positive number, got "abc"\n');
  });

  it('--off drives the safe level', () => {
    const j = join(dir, 'off.jsonl');
    const r = actuate('valve', '--off', '--config', config, '--simulate-outputs', j);
    expect(r.code).toBe(0);
    expect(journal(j).every((x) => x.value === 0)).toBe(true);
  });
});

