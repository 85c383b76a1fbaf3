import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { edgeAgent } from '../helpers/cli.js';
import { benchCachePath, readBenchCache } from '../../agent/select/bench-cache.js';

vi.setConfig({ testTimeout: 600_000 });

/**
 * `bench --source FILE --frames N` (built CLI): agreement measured on frames spread over the user's own clip (here a
 * conveyor scene from the demo generator), with the demo model's int8 against its fp32 reference, and cached.
 */
const repoRoot = resolve(import.meta.dirname, '..', '..');
const demo = resolve(repoRoot, 'models', 'conveyor-demo');

const cli = (args: string[]) => edgeAgent(args);

let tmp: string;
let clip: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'bench-source-'));
  const scene = join(tmp, 'scene');
  const gen = spawnSync(process.execPath, [resolve(repoRoot, 'dist', 'scripts', 'make-demo-scene.js'), '--seed', '77', '--out', scene, '--seconds', '4', '--parts', '5'], { encoding: 'utf8' });
  expect(gen.status, gen.stderr).toBe(0);
  clip = join(scene, 'conveyor.mp4');
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('bench --source FILE --frames N', () => {
  it('measures each variant with a reference on N frames spread over the clip and caches the agreement', async () => {
    const state = join(tmp, 'state');
    const r = await cli(['bench', '--model', demo, '--state-dir', state, '--runs', '5', '--source', clip, '--frames', '12', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const rows = (JSON.parse(r.stdout) as { agreement: Array<{ variant: string; reference: string; agreement: { value: number; frames: number; detections: number; dataset: string } }> }).agreement;
    const int8 = rows.find((x) => x.variant === 'student-int8')!;
    expect(int8.reference).toBe('student-fp32');
    expect(int8.agreement.frames).toBe(12);
    expect(int8.agreement.dataset).toBe(`12 frames from ${clip}`);
    // The demo scene has parts on the belt: the reference finds some, and the real int8 keeps most of them.
    expect(int8.agreement.detections).toBeGreaterThan(0);
    expect(int8.agreement.value).toBeGreaterThan(0.5);
    const cache = readBenchCache(benchCachePath(state));
    const stored = Object.values(cache.agreements ?? {}).flatMap((byFile) => Object.values(byFile));
    expect(stored.some((a) => a.variant === 'student-int8' && a.frames === 12)).toBe(true);
  });

  it('--frames with --source is a count: a folder there is a one-line usage error', async () => {
    const r = await cli(['bench', '--model', demo, '--state-dir', join(tmp, 's2'), '--source', clip, '--frames', './frames']);
    expect(r.status).toBe(64);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/--frames \.\/frames: with --source it is the number of frames to read/);
  });
});
