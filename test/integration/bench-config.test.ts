import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { repoRoot, runCli } from '../helpers/cli.js';

describe('bench --config: the utility uses the config\'s model.selection alpha and beta', () => {
  it('U = alpha*mAP50 - beta*median with alpha 40, beta 3 from the config, and the cache in its stateDir', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-config-'));
    try {
      const cfg = parse(readFileSync(join(repoRoot, 'config', 'conveyor-demo.yaml'), 'utf8')) as Record<string, any>;
      cfg.model.manifest = join(repoRoot, 'models', 'conveyor-demo', 'manifest.json');
      cfg.model.selection = { alpha: 40, beta: 3 };
      cfg.stateDir = 'state';
      writeFileSync(join(dir, 'config.yaml'), stringify(cfg));
      const r = await runCli(['bench', '--config', join(dir, 'config.yaml'), '--runs', '5', '--json'], { timeoutMs: 120_000 });
      expect(r.code).toBe(0);
      const out = JSON.parse(r.stdout) as { rows: Array<{ variant: string; medianMs: number | null; mAP50: number | null; utility: number | null }> };
      const measured = out.rows.filter((x) => x.medianMs !== null && x.mAP50 !== null);
      expect(measured.length).toBeGreaterThan(0);
      for (const row of measured) expect(row.utility).toBeCloseTo(40 * row.mAP50! - 3 * row.medianMs!, 6);
      // The bench cache went to the config's stateDir (relative to the config file).
      expect(readFileSync(join(dir, 'state', 'bench-cache.json'), 'utf8')).toContain('student-fp32');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
