/**
 * Issue 22, finding 9: a video cut half-way is not accepted as whole. ffmpeg decodes what it can, logs decode errors,
 * pads or skips the rest and exits 0; the source counts those errors (stats().inputErrors, the run summary) and warns
 * once (rate-limited), after delivering the frames before the cut. An MP4 whose index (moov) was at the end cannot be
 * opened at all: one line, exit 65. Real ffmpeg, clips made here and cut with `head -c`, the built CLI.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sourceSchema } from '../../agent/config/sections/source.js';
import { createLogger } from '../../agent/log.js';
import { createSource } from '../../drivers/camera/index.js';
import { isInputDamage } from '../../drivers/camera/failures.js';
import { take, testInput } from '../fixtures/cameras/helpers.js';
import { repoRoot, runCli } from '../helpers/cli.js';

const built = existsSync(join(repoRoot, 'dist', 'agent', 'cli', 'main.js')) && existsSync(join(repoRoot, 'models', 'conveyor-demo', 'manifest.json'));
let dir: string;

/** A 10 s, 100-frame clip, and the same file cut to half its bytes as a copy interrupted half-way would leave it. */
function clipAndCut(name: string, extra: string[]): { whole: string; cut: string } {
  const whole = join(dir, name);
  const cut = join(dir, `cut-${name}`);
  const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=10', '-t', '10', '-pix_fmt', 'yuv420p', '-c:v', 'libx264', ...extra, whole]);
  expect(r.status, r.stderr?.toString()).toBe(0);
  expect(spawnSync('sh', ['-c', `head -c $(( $(stat -c %s "${whole}") / 2 )) "${whole}" > "${cut}"`]).status).toBe(0);
  return { whole, cut };
}

let mkv: { whole: string; cut: string };
let fast: { whole: string; cut: string };
let moovAtEnd: { whole: string; cut: string };
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'truncated-stream-'));
  mkv = clipAndCut('clip.mkv', []);
  fast = clipAndCut('fast.mp4', ['-movflags', '+faststart']);
  moovAtEnd = clipAndCut('clip.mp4', []);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A file source reading every frame (lossless), logging JSON lines into `lines`. */
function fileSource(path: string, lines: string[]) {
  const stream = new Writable({ write: (c: Buffer, _e, cb) => (lines.push(...c.toString().split('\n').filter(Boolean)), cb()) });
  return createSource(sourceSchema.parse({ type: 'file', path, pace: 'fast', loop: false }), { input: testInput(), mode: 'lossless', log: createLogger({ stream, level: 'warn', pretty: false, journal: false }) });
}

describe('a video cut half-way, read as a stream (real ffmpeg)', () => {
  it('the whole clips: 100 frames, no input error, no warning', async () => {
    for (const whole of [mkv.whole, fast.whole]) {
      const lines: string[] = [];
      const src = fileSource(whole, lines);
      await src.start();
      const frames = await take(src, 1000);
      expect(frames).toHaveLength(100);
      expect(src.stats().inputErrors).toBe(0);
      expect(lines).toEqual([]);
      await src.stop();
    }
  });

  it('Matroska and faststart MP4 cut half-way: the frames before the cut, then the end, with counted errors and one warning', async () => {
    for (const cut of [mkv.cut, fast.cut]) {
      const lines: string[] = [];
      const src = fileSource(cut, lines);
      await src.start();
      const frames = await take(src, 1000);
      expect(frames.length).toBeGreaterThan(10);
      expect(frames.length).toBeLessThan(100);
      expect(frames.map((f) => f.seq)).toEqual([...frames.keys()]);
      expect(await src.next()).toBeNull();
      expect(src.stats().inputErrors).toBeGreaterThanOrEqual(1);
      const warnings = lines.map((l) => JSON.parse(l) as { level: number; msg: string; inputErrors: number });
      // Rate-limited: one warning however many decode errors (the faststart MP4 gives several).
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.level).toBe(40);
      expect(warnings[0]!.msg).toContain(`file ${cut}`);
      expect(warnings[0]!.msg).toMatch(/the input is damaged or truncated \(.+\): frames there are missing or padded/);
      await src.stop();
    }
  });

  it('recognises the decoder messages ffmpeg prints for damaged input, not ordinary ones', () => {
    for (const l of ['[matroska,webm @ 0x5] File ended prematurely', '[mov,mp4,m4a,3gp,3g2,mj2 @ 0x5] stream 0, offset 0x22d0: partial file', '[h264 @ 0x5] Invalid NAL unit size (464 > 94).', 'Error while decoding stream #0:0: Invalid data found when processing input', '[mpeg2video @ 0x5] ac-tex damaged at 16 9']) {
      expect(isInputDamage(l), l).toBe(true);
    }
    for (const l of ['Stream mapping:', 'frame=  100 fps=0.0 q=-0.0 Lsize=N/A', 'Output #0, rawvideo, to pipe:']) expect(isInputDamage(l), l).toBe(false);
  });
});

describe.skipIf(!built)('run --until-eof on a truncated file (built CLI, bundled demo model)', () => {
  const run = (source: string) => runCli(['run', '--source', source, '--until-eof', '--simulate-outputs', join(dir, 'outputs.jsonl'), '--state-dir', join(dir, 'state')]);

  it('a Matroska clip cut half-way: exit 0 with the frames before the cut, and a warning in the summary', async () => {
    const r = await run(mkv.cut);
    expect(r.code, r.stderr).toBe(0);
    const processed = Number(/processed (\d+) frames/.exec(r.stdout)?.[1]);
    expect(processed).toBeGreaterThan(10);
    expect(processed).toBeLessThan(100);
    expect(r.stdout).toMatch(/^warning: the input is damaged or truncated: \d+ decoder errors?; frames past the damage are missing or padded/m);
    const whole = await run(mkv.whole);
    expect(whole.stdout).toMatch(/processed 100 frames/);
    expect(whole.stdout).not.toMatch(/damaged or truncated/);
  });

  it('an MP4 with its index at the end, cut half-way: cannot be opened, one line, exit 65', async () => {
    const r = await run(moovAtEnd.cut);
    expect(r.code).toBe(65);
    const lines = r.stderr.trim().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^edge-agent: .*cut-clip\.mp4 is not a readable video/);
  });
});

describe.skipIf(!built)('a live run looping a truncated clip (built CLI, bundled demo model)', () => {
  it('counts the decode errors in /metrics (edge_agent_source_input_errors_total) and keeps running', async () => {
    const cfg = parse(readFileSync(join(repoRoot, 'config', 'conveyor-demo.yaml'), 'utf8')) as Record<string, Record<string, unknown>>;
    cfg.source = { type: 'file', path: mkv.cut, pace: 'fast', loop: true };
    cfg.model!.manifest = join(repoRoot, 'models', 'conveyor-demo', 'manifest.json');
    cfg.health = { enabled: true, listen: '127.0.0.1:0' };
    const file = join(dir, 'live.yaml');
    writeFileSync(file, stringify(cfg));
    const child = spawn(process.execPath, [join(repoRoot, 'bin', 'edge-agent.js'), 'run', '--config', file, '--simulate-outputs', join(dir, 'live-outputs.jsonl'), '--state-dir', join(dir, 'live-state')], {
      env: { ...process.env, EDGE_AGENT_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const t0 = Date.now();
    try {
      let url: string | undefined;
      let count = 0;
      for (const deadline = Date.now() + 60_000; Date.now() < deadline && count < 2; await new Promise((r) => setTimeout(r, 200))) {
        expect(child.exitCode, out.slice(-2000)).toBeNull();
        url ??= /"url":"(http:\/\/127\.0\.0\.1:\d+)"[^\n]*health endpoint listening/.exec(out)?.[1];
        if (!url) continue;
        const text = await (await fetch(`${url}/metrics`)).text();
        count = Number(/^edge_agent_source_input_errors_total\{camera="default"\} (\d+)$/m.exec(text)?.[1] ?? 0);
      }
      // Each pass over the cut clip ends in the same decode error: counted every time, warned about once a minute.
      expect(count, out.slice(-2000)).toBeGreaterThanOrEqual(2);
      const warnings = out.match(/the input is damaged or truncated/g)?.length ?? 0;
      expect(warnings).toBeGreaterThanOrEqual(1);
      expect(warnings).toBeLessThanOrEqual(1 + Math.floor((Date.now() - t0) / 60_000));
    } finally {
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await done;
    }
  });
});
