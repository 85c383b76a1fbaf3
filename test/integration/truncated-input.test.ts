/**
 * Inputs that mislead (issue 22, finding 9): a picture cut half-way is reported (exit 65), not judged as if whole
 * (ffmpeg pads it and exits 0); a model whose file is missing is a missing input (66), not "unavailable" (69).
 * Real ffmpeg, the bundled demo model, the built CLI.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plainLines, repoRoot, runCli } from '../helpers/cli.js';

const model = join(repoRoot, 'models', 'conveyor-demo');
const ready = existsSync(join(model, 'manifest.json')) && existsSync(join(repoRoot, 'dist', 'agent', 'cli', 'main.js'));
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'truncated-'));
  for (const ext of ['jpg', 'png']) {
    const whole = join(dir, `whole.${ext}`);
    expect(spawnSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=320x240', '-frames:v', '1', whole]).status).toBe(0);
    const bytes = readFileSync(whole);
    writeFileSync(join(dir, `cut.${ext}`), bytes.subarray(0, Math.floor(bytes.length / 2)));
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!ready)('detect: damaged inputs and missing models (built CLI, bundled demo model)', () => {
  it('a whole JPEG is read; the same JPEG and a PNG cut half-way: one line, exit 65', async () => {
    const ok = await runCli(['detect', '--model', model, '--image', join(dir, 'whole.jpg')]);
    expect(ok.code, ok.stderr).toBe(0);
    for (const ext of ['jpg', 'png']) {
      const r = await runCli(['detect', '--model', model, '--image', join(dir, `cut.${ext}`)]);
      expect(r.code).toBe(65);
      const lines = plainLines(r.stderr);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`cut\\.${ext} (is damaged or truncated|is not a readable image)`));
    }
  });

  it('a manifest whose model files are missing: exit 66 naming the file', async () => {
    const m = join(dir, 'model');
    mkdirSync(m, { recursive: true });
    copyFileSync(join(model, 'manifest.json'), join(m, 'manifest.json'));
    const r = await runCli(['detect', '--model', m, '--image', join(dir, 'whole.jpg')]);
    expect(r.code).toBe(66);
    const lines = plainLines(r.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/model file .*model\/\S+\.onnx \(variant \S+\) cannot be read/);
  });
});

describe.skipIf(!ready)('run --source that does not exist', () => {
  it('is the first and only thing said (no model or output log lines before it), exit 66', async () => {
    const r = await runCli(['run', '--config', join(repoRoot, 'config', 'conveyor-demo.yaml'), '--source', join(dir, 'nope.mp4'), '--simulate-outputs', join(dir, 'o.jsonl')], { env: { EDGE_AGENT_LOG_LEVEL: 'info' } });
    expect(r.code).toBe(66);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^edge-agent: video file .*nope\.mp4 does not exist: check source\.path in the config or --source$/)]);
  });
});
