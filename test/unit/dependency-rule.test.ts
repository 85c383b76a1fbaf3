import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sh } from '../helpers/sh.js';

const root = resolve(import.meta.dirname, '../..');
const bin = join(root, 'node_modules', '.bin', 'depcruise');
const config = join(root, '.dependency-cruiser.cjs');

async function cruise(cwd: string, args: string[]): Promise<{ status: number | null; out: string }> {
  const r = await sh(bin, [...args, '--config', config, '--output-type', 'err'], { cwd, timeout: 240_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('the dependency rule (issue #17): drivers use agent ports only; the daemon never imports tools', () => {
  it('the project passes (known violations that predate the rule are listed and may only shrink)', async () => {
    const known = join(root, '.dependency-cruiser-known-violations.json');
    const r = await cruise(root, ['agent', 'drivers', 'scripts', '--ignore-known', known]);
    // Every rule is an error: any violation fails (exit status).
    expect(r.out).not.toMatch(/^\s*error /m);
    expect(r.status).toBe(0);
    // The baseline is empty: no driver imports agent logic (the MQTT sink's outbox and snapshots moved to
    // agent/events/durable-sink.ts, the tensor packer to agent/core, the emit smoke tool to scripts/).
    const list = createRequire(import.meta.url)(known) as Array<{ from: string; to: string; rule: { name: string } }>;
    expect(list).toEqual([]);
  }, 300_000);

  it('fails on a driver importing agent logic, the daemon importing a tool, and a CLI command importing a tool eagerly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'depcruise-'));
    try {
      const files: Record<string, string> = {
        'agent/types.ts': 'export type Frame = { seq: number };\n',
        'agent/pipeline/pipeline.ts': 'export class Pipeline {}\n',
        'scripts/tool.ts': 'export const tool = 1;\n',
        'drivers/good.ts': "import type { Frame } from '../agent/types.js';\nexport const f = (x: Frame) => x;\n",
        'drivers/bad.ts': "import { Pipeline } from '../agent/pipeline/pipeline.js';\nexport const p = new Pipeline();\n",
        'agent/daemon.ts': "import { tool } from '../scripts/tool.js';\nexport const t = tool;\n",
        'agent/cli/commands/lazy.ts': "export async function run() { return (await import('../../../scripts/tool.js')).tool; }\n",
        'agent/cli/commands/eager.ts': "import { tool } from '../../../scripts/tool.js';\nexport const t = tool;\n",
        'drivers/gpio.ts': 'export const line = 17;\n',
        'agent/policy.ts': "import { line } from '../drivers/gpio.js';\nexport const l = line;\n",
        'agent/app/compose.ts': "import { line } from '../../drivers/gpio.js';\nexport const l = line;\n",
        'tsconfig.json': JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true } }),
      };
      for (const [f, text] of Object.entries(files)) {
        mkdirSync(dirname(join(dir, f)), { recursive: true });
        writeFileSync(join(dir, f), text);
      }
      const r = await cruise(dir, ['agent', 'drivers', 'scripts']);
      expect(r.status).not.toBe(0);
      expect(r.out).toContain('drivers-import-only-agent-ports: drivers/bad.ts → agent/pipeline/pipeline.ts');
      expect(r.out).toContain('daemon-never-imports-tools: agent/daemon.ts → scripts/tool.ts');
      expect(r.out).toContain('cli-loads-tools-lazily: agent/cli/commands/eager.ts → scripts/tool.ts');
      expect(r.out).not.toContain('drivers/good.ts');
      expect(r.out).not.toContain('commands/lazy.ts');
      expect(r.out).toContain('error only-the-composition-root-names-drivers: agent/policy.ts → drivers/gpio.ts');
      expect(r.out).not.toContain('agent/app/compose.ts →');
      expect(r.out).toMatch(/4 dependency violations \(4 errors, 0 warnings\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
