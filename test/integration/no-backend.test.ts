/**
 * Issue 20, bad input: a board where no variant of the model can run (here: a manifest whose only variant needs an
 * Edge TPU, on a machine with neither a Coral nor libedgetpu). `doctor` and `run` both exit 69 (EX_UNAVAILABLE) with
 * one line saying what to install, never a silent CPU-less run. Real files, real ffmpeg, the built CLI.
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, runCli } from '../helpers/cli.js';

const demo = join(repoRoot, 'models', 'conveyor-demo');
const ready = existsSync(join(demo, 'manifest.json')) && existsSync(join(repoRoot, 'dist', 'agent', 'cli', 'main.js'));
// The machine running the tests has no Coral (CI, this build machine); on one with a Coral the premise is false.
const hasCoral = existsSync('/dev/apex_0');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'no-backend-'));
  const manifest = JSON.parse(readFileSync(join(demo, 'manifest.json'), 'utf8')) as { variants: Record<string, unknown>[] };
  // Any bytes will do: the variant is rejected for its accelerator before its file is opened; the hash must match.
  copyFileSync(join(demo, 'student.onnx'), join(dir, 'student_edgetpu.tflite'));
  const sha256 = createHash('sha256').update(readFileSync(join(dir, 'student_edgetpu.tflite'))).digest('hex');
  const { flops: _f, accuracy: _a, ...base } = manifest.variants[0]!;
  manifest.variants = [{ ...base, name: 'student-edgetpu', file: 'student_edgetpu.tflite', runtime: 'tflite', accelerator: 'edgetpu', precision: 'int8', sha256 }];
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 1));
  expect(spawnSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=5', '-t', '1', '-pix_fmt', 'yuv420p', join(dir, 'clip.mp4')]).status).toBe(0);
  writeFileSync(
    join(dir, 'config.yaml'),
    `device: { id: no-backend }\nsource: { type: file, path: clip.mp4, pace: realtime, loop: false }\nmodel: { manifest: manifest.json }\nrules: []\n`,
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const oneLine = /^edge-agent: no variant of model conveyor-demo .*can run here.*: install libedgetpu1-std from Coral's apt repository \(https:\/\/coral\.ai\/\S+\)/;

describe.skipIf(!ready || hasCoral)('no usable variant on this board (edgetpu-only manifest, no Coral, no libedgetpu)', () => {
  it('doctor: the report, then one line naming libedgetpu1-std; exit 69', async () => {
    const r = await runCli(['doctor', '--model', dir, '--state-dir', join(dir, 'state')]);
    expect(r.code, r.stderr).toBe(69);
    expect(r.stdout).toMatch(/Selected: none/);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(oneLine);
  });

  it('run: one line naming libedgetpu1-std, no stack, exit 69 (no frame is processed on the CPU instead)', async () => {
    const out = join(dir, 'outputs.jsonl');
    const r = await runCli(['run', '--config', join(dir, 'config.yaml'), '--until-eof', '--simulate-outputs', out, '--state-dir', join(dir, 'state')]);
    expect(r.code, r.stderr).toBe(69);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(oneLine);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.stdout).not.toMatch(/frames/);
  });
});
