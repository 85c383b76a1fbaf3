/**
 * Several cameras on one model host (`npm run bench -- --only cameras`):
 *   1. bare model: back-to-back calls on the session the agent opens (model host, known-answer checked), as many
 *      outstanding as the backend takes: the model's throughput, the limit for all cameras together;
 *   2. the demo clip as 1 and 4 cameras read in full (`demo --cameras N`, lossless): aggregate frames/s against (1),
 *      and peak RSS of the agent process;
 *   3. the 4 cameras live for a few seconds (latest frame wins, clip paced in real time): frames per camera, and
 *      the spread between the most and least served camera.
 * Each run is a child process (its own peak RSS).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../agent/log.js';
import { loadManifest } from '../../agent/model/manifest.js';
import { packageRoot, AGENT_NODE_FLAGS, AGENT_ENV } from '../../agent/paths.js';
import { createModelHost } from '../../agent/app/compose.js';
import { loadConfigFile } from '../../agent/config/load.js';
import { demoConfigPath } from '../../agent/paths.js';
import { configPath } from '../../agent/config/load.js';
import { TensorPacker } from '../../agent/preprocess/tensor.js';
import { inputSize } from '../../agent/preprocess/geometry.js';

export interface CamerasRun {
  cameras: number;
  mode: 'lossless' | 'live';
  frames: Record<string, number>;
  fps: number;
  seconds: number;
  peakRssMb: number;
}

export interface CamerasBenchResult {
  bare: { calls: number; fps: number };
  runs: CamerasRun[];
  cpu: string;
}

export async function benchCameras(o: { bareSeconds?: number; liveSeconds?: number } = {}): Promise<CamerasBenchResult> {
  return { bare: await bareModel(o.bareSeconds ?? 4), runs: [demoRun(1), demoRun(4), demoRun(4, o.liveSeconds ?? 8)], cpu: cpuName() };
}

/** The session the agent runs, called back to back with as many calls outstanding as it takes. */
async function bareModel(seconds: number): Promise<CamerasBenchResult['bare']> {
  const log = createLogger({ level: 'warn' });
  const loaded = loadConfigFile(demoConfigPath());
  const dir = mkdtempSync(join(tmpdir(), 'bench-cameras-'));
  const host = createModelHost({ manifest: loadManifest(configPath(loaded, loaded.config.model.manifest)), settings: loaded.config.model, stateDir: dir, job: 'live', log });
  try {
    const { opened } = await host.open();
    const b = opened.backend;
    const { width, height } = inputSize(opened.input);
    const info = b.inputs().find((i) => i.name === opened.input.name);
    const packer = new TensorPacker(opened.input, { quant: info?.quant });
    const data = new Uint8Array(width * height * 3).map((_, i) => (i * 7919) % 256);
    const input = packer.pack({ data, width, height, format: 'rgb24' } as never);
    const feeds = { [opened.input.name]: input };
    for (let i = 0; i < 10; i++) await b.run(feeds);
    const depth = b.runsIn?.() === 'main' ? 1 : Math.max(1, Math.min(2, b.maxInFlight?.() ?? 1));
    let calls = 0;
    const t0 = performance.now();
    const lane = async (): Promise<void> => {
      while (performance.now() - t0 < seconds * 1000) {
        await b.run(feeds);
        calls++;
      }
    };
    await Promise.all(Array.from({ length: depth }, lane));
    return { calls, fps: (calls * 1000) / (performance.now() - t0) };
  } finally {
    await host.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function demoRun(n: number, liveSeconds?: number): CamerasRun {
  const dir = mkdtempSync(join(tmpdir(), 'bench-cameras-'));
  try {
    const args = [...AGENT_NODE_FLAGS, join(packageRoot(), 'bin', 'edge-agent.js'), 'demo', '--cameras', String(n), '--state-dir', dir, ...(liveSeconds ? ['--seconds', String(liveSeconds)] : [])];
    const r = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, ...AGENT_ENV, EDGE_AGENT_LOG_LEVEL: 'error' } });
    if (r.status !== 0) throw new Error(`demo --cameras ${n} failed (${r.status}): ${r.stderr.slice(-400)}`);
    const frames: Record<string, number> = {};
    for (const m of r.stdout.matchAll(/^(cam\d+)\s+(\d+)\s/gm)) frames[m[1]!] = Number(m[2]);
    const all = /^all\s+(\d+)\s+([\d.]+)\s+.*in ([\d.]+) s$/m.exec(r.stdout);
    const rss = /^peak RSS: ([\d.]+) MB/m.exec(r.stdout);
    if (!all || !rss) throw new Error(`demo --cameras ${n}: unexpected output:\n${r.stdout}`);
    return { cameras: n, mode: liveSeconds ? 'live' : 'lossless', frames, fps: Number(all[2]), seconds: Number(all[3]), peakRssMb: Number(rss[1]) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function cpuName(): string {
  try {
    const t = spawnSync('sh', ['-c', "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2; nproc"], { encoding: 'utf8' }).stdout.trim().split('\n');
    return `${t[0]?.trim()} (${t[1]} CPUs)`;
  } catch {
    return 'unknown';
  }
}

/** Spread between the most and the least served camera, relative to the most served. */
export function spread(frames: Record<string, number>): number {
  const v = Object.values(frames);
  return v.length ? (Math.max(...v) - Math.min(...v)) / Math.max(1, Math.max(...v)) : 0;
}

export function formatCamerasTable(r: CamerasBenchResult): string {
  const rows = [
    ['run', 'frames/s', 'of bare model', 'per camera (frames)', 'spread', 'peak RSS', 'target'],
    ['bare model (the shared session)', r.bare.fps.toFixed(1), '100%', '-', '-', '-', '-'],
    ...r.runs.map((x) => [
      `${x.cameras} camera${x.cameras > 1 ? 's' : ''}, ${x.mode === 'lossless' ? 'clip read in full' : `live ${x.seconds.toFixed(0)} s`}`,
      x.fps.toFixed(1),
      `${((100 * x.fps) / r.bare.fps).toFixed(0)}%`,
      Object.values(x.frames).join('/'),
      `${(100 * spread(x.frames)).toFixed(0)}%`,
      `${x.peakRssMb.toFixed(0)} MB`,
      x.cameras === 1 ? 'RSS < 150 MB' : x.mode === 'lossless' ? '>= 90% of bare; RSS < 250 MB' : 'spread <= 25%',
    ]),
  ];
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return `${rows.map((row) => row.map((c, i) => c.padEnd(w[i]!)).join('  ')).join('\n')}\n(${r.cpu}; machine shared with other work while measured)\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  benchCameras()
    .then((r) => process.stdout.write(formatCamerasTable(r)))
    .catch((err: unknown) => {
      process.stderr.write(`bench cameras: ${String(err)}\n`);
      process.exitCode = 1;
    });
}
