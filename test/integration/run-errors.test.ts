import { copyFileSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { plainLines, repoRoot, runCli } from '../helpers/cli.js';

/** Bad input gets one clear line naming the thing and the fix, a non-zero exit, and no stack trace. */
const manifestFile = join(repoRoot, 'models', 'conveyor-demo', 'manifest.json');
const modelReady = existsSync(manifestFile);

describe.skipIf(!modelReady)('run: bad input', () => {
  let dir: string;
  const demoConfig = join(repoRoot, 'config', 'conveyor-demo.yaml');
  const runArgs = (extra: string[]): string[] => ['run', '--until-eof', '--simulate-outputs', join(dir, 'out.jsonl'), '--state-dir', join(dir, 'state'), ...extra];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'edge-agent-bad-'));
  });

  function expectOneLine(r: { code: number | null; stderr: string }, code: number, pattern: RegExp): void {
    const lines = plainLines(r.stderr);
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^edge-agent: /);
    expect(lines[0]).toMatch(pattern);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(r.code).toBe(code);
  }

  it('a missing source file', async () => {
    const r = await runCli(runArgs(['--config', demoConfig, '--source', join(dir, 'nope.mp4')]));
    expectOneLine(r, 66, /video file .*nope\.mp4 does not exist: check source\.path in the config or --source/);
  });

  it('a file that is not a video', async () => {
    const bad = join(dir, 'corrupt.mp4');
    writeFileSync(bad, Buffer.from('this is not a video at all, just some text pretending to be one'.repeat(50)));
    const r = await runCli(runArgs(['--config', demoConfig, '--source', bad]));
    expectOneLine(r, 65, /corrupt\.mp4 is not a readable video .*: give a video file ffmpeg can play/);
  });

  it('a video truncated in the middle fails with the frame it reached', async () => {
    const { writeScene } = await import('../../scripts/demo-scene/index.js');
    const sceneDir = join(dir, 'scene');
    await writeScene(sceneDir, { seed: 77, parts: 2 });
    const whole = readFileSync(join(sceneDir, 'conveyor.mp4'));
    // Keep the header and the first part; scramble the rest.
    const cut = Buffer.concat([whole.subarray(0, Math.floor(whole.length * 0.4)), Buffer.alloc(Math.floor(whole.length * 0.2), 0xaa)]);
    const truncated = join(dir, 'truncated.mp4');
    writeFileSync(truncated, cut);
    const r = await runCli(runArgs(['--config', demoConfig, '--source', truncated]), { timeoutMs: 120_000 });
    // ffmpeg may stop with an error (exit 65) or decode what it can and end (exit 0, fewer frames): both are honest.
    if (r.code === 0) expect(r.stdout).toMatch(/processed \d+ frames/);
    else expectOneLine(r, 65, /truncated\.mp4.*(decoding failed after \d+ frames|decoded no frame|not a readable video)/);
  }, 180_000); // renders a scene and runs the agent: slow when the whole suite shares two cores

  it('a missing model file', async () => {
    const m = JSON.parse(readFileSync(manifestFile, 'utf8')) as { variants: Array<{ file: string }> };
    for (const v of m.variants) v.file = join(dir, 'missing.onnx');
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
    const cfg = readFileSync(demoConfig, 'utf8').replace(/manifest: .*/, `manifest: ${join(dir, 'manifest.json')}`);
    writeFileSync(join(dir, 'missing-model.yaml'), cfg);
    const r = await runCli(runArgs(['--config', join(dir, 'missing-model.yaml'), '--source', join(dir, 'scene', 'conveyor.mp4')]));
    expectOneLine(r, 66, /model file .*missing\.onnx .* cannot be read: restore the file or correct variants\[\]\.file in the manifest/);
  });

  it('a model whose input does not match its manifest', async () => {
    const m = JSON.parse(readFileSync(manifestFile, 'utf8')) as { input: { shape: number[] }; variants: Array<{ file: string }> };
    m.input.shape = [1, 3, 320, 320];
    for (const v of m.variants) {
      const src = join(repoRoot, 'models', 'conveyor-demo', v.file);
      copyFileSync(src, join(dir, v.file.split('/').pop()!));
      v.file = v.file.split('/').pop()!;
    }
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
    const cfg = readFileSync(demoConfig, 'utf8').replace(/manifest: .*/, `manifest: ${join(dir, 'manifest.json')}`);
    writeFileSync(join(dir, 'mismatch.yaml'), cfg);
    const r = await runCli(runArgs(['--config', join(dir, 'mismatch.yaml'), '--source', join(dir, 'scene', 'conveyor.mp4')]));
    expectOneLine(r, 65, /input "images" is \[1,3,240,320\], the manifest says \[1,3,320,320\]: correct input\.shape in the manifest/);
  });

  it('an invalid config exits 78 (no systemd restart loop)', async () => {
    writeFileSync(join(dir, 'bad.yaml'), 'source: { type: file }\nmodel: { manifest: x, threads: 0 }\nrules: []\nbogus: 1\n');
    const r = await runCli(['run', '--config', join(dir, 'bad.yaml')]);
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/source\.path/);
    expect(r.stderr).toMatch(/model\.threads/);
    expect(r.stderr).toMatch(/bogus/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('an unknown option is a usage error', async () => {
    const r = await runCli(['run', '--frobnicate']);
    expectOneLine(r, 64, /frobnicate/);
  });
});
