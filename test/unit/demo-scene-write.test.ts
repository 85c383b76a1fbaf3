import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SCENE_GENERATOR_VERSION, ensureScene, writeScene } from '../../scripts/demo-scene/index.js';

const repo = resolve(import.meta.dirname, '..', '..');
const cli = join(repo, 'dist', 'scripts', 'make-demo-scene.js');
const work = mkdtempSync(join(tmpdir(), 'demo-scene-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('writeScene (real ffmpeg)', () => {
  it('writes an H.264 clip with exactly the rendered frame count, truth.json and boxes.jsonl', async () => {
    const out = join(work, 's7');
    const res = await writeScene(out, { seed: 7, seconds: 2 });
    expect(res.summary.frames).toBe(30);
    const probe = execFileSync('ffprobe', [
      '-v', 'error', '-count_frames', '-select_streams', 'v:0',
      '-show_entries', 'stream=codec_name,width,height,r_frame_rate,nb_read_frames,pix_fmt', '-of', 'json', res.video,
    ]).toString();
    const s = JSON.parse(probe).streams[0];
    expect(s).toMatchObject({ codec_name: 'h264', width: 640, height: 480, r_frame_rate: '15/1', pix_fmt: 'yuv420p', nb_read_frames: '30' });
    const truth = JSON.parse(readFileSync(res.truth, 'utf8'));
    expect(truth).toMatchObject({ width: 640, height: 480, fps: 15, frames: 30 });
    const lines = readFileSync(res.boxes, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(30);
    expect(lines.map((l) => l.frame)).toEqual([...Array(30).keys()]);
    // No temporary files are left behind.
    expect(readdirSync(out).sort()).toEqual(['boxes.jsonl', 'conveyor.mp4', 'truth.json']);
  });
});

describe('writeScene --every (time-lapse training data)', () => {
  it('keeps every n-th frame and says which in boxes.jsonl', async () => {
    const res = await writeScene(join(work, 'every'), { seed: 8, seconds: 2, every: 5 });
    const n = execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', res.video]).toString().trim();
    expect(n).toBe('6');
    const frames = readFileSync(res.boxes, 'utf8').trim().split('\n').map((l) => JSON.parse(l).frame);
    expect(frames).toEqual([0, 5, 10, 15, 20, 25]);
    expect(JSON.parse(readFileSync(res.truth, 'utf8')).sampledEvery).toBe(5);
  });
});

describe('ensureScene (the cached demo clip)', () => {
  it('writes once, reuses the clip, and writes again when the clip came from another generator version', async () => {
    const dir = join(work, 'cached');
    expect((await ensureScene(dir, 9, { seconds: 1 })).written).toBe(true);
    const truthFile = join(dir, 'truth.json');
    const truth = JSON.parse(readFileSync(truthFile, 'utf8'));
    expect(truth).toMatchObject({ generator: SCENE_GENERATOR_VERSION, seed: 9 });
    const mtime = statSync(join(dir, 'conveyor.mp4')).mtimeMs;
    expect((await ensureScene(dir, 9, { seconds: 1 })).written).toBe(false);
    expect(statSync(join(dir, 'conveyor.mp4')).mtimeMs).toBe(mtime);
    writeFileSync(truthFile, JSON.stringify({ ...truth, generator: SCENE_GENERATOR_VERSION - 1 }));
    expect((await ensureScene(dir, 9, { seconds: 1 })).written).toBe(true);
    expect(JSON.parse(readFileSync(truthFile, 'utf8')).generator).toBe(SCENE_GENERATOR_VERSION);
  });
});

describe.skipIf(!existsSync(cli))('make-demo-scene CLI (dist/ built: run npm run build first)', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

  it('writes a scene and prints one summary line', () => {
    const out = join(work, 'cli');
    const r = run('--seed', '3', '--out', out, '--seconds', '1', '--parts', '2');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/conveyor\.mp4: 15 frames 640x480 @15 fps/);
    expect(existsSync(join(out, 'truth.json'))).toBe(true);
  });

  it.each([
    [['--out', '/tmp/x'], /missing --seed/],
    [['--seed', 'abc', '--out', '/tmp/x'], /--seed must be an integer/],
    [['--seed', '1'], /missing --out/],
    [['--seed', '1', '--out', '/tmp/x', '--parts', '0'], /--parts must be an integer from 1/],
    [['--seed', '1', '--out', '/tmp/x', '--seconds=-2'], /--seconds must be a number/],
    [['--seed', '1', '--out', '/tmp/x', '--bogus'], /bogus/],
  ])('bad arguments %j: one line, exit 64', (args, msg) => {
    const r = run(...args);
    expect(r.status).toBe(64);
    expect(r.stderr).toMatch(msg);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
