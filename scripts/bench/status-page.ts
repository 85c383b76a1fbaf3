/**
 * Status page benchmark: what the live picture costs the frame loop. Frames of the demo scene (RGB,
 * rendered by the scene generator and scaled to the model input the loop holds, 320x240 by default) are offered to a StatusFeed at the clip's 15 fps for a few seconds of real
 * time, three ways:
 *
 *   no page       the loop without the feed (baseline)
 *   no viewer     feed.frame() on every frame, nobody watching: the provider is never called
 *   one viewer    one browser-like viewer long-polling pictures: copied and JPEG-encoded at status.maxFps
 *
 * CPU is process.cpuUsage() (user + system, every thread: the JPEG encoder's worker thread included), in µs
 * per frame offered and per picture encoded; "main" is the event-loop time the offers themselves took.
 *
 *   node dist/scripts/bench/status-page.js [--seconds S] [--fps F] [--max-fps M] [--width W] [--json]
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { loadConfigFile } from '../../agent/config/load.js';
import { silentLogger } from '../../agent/log.js';
import { demoConfigPath, demoSceneDir, DEMO_SEED } from '../../agent/paths.js';
import { StatusFeed } from '../../agent/status/feed.js';
import { generateScene } from '../demo-scene/scene.js';
import { renderFrame } from '../demo-scene/render.js';
import type { Frame } from '../../agent/types.js';

export interface StatusBenchRow {
  scenario: string;
  frames: number;
  provided: number;
  encoded: number;
  cpuUsPerFrame: number;
  cpuUsPerEncoded?: number;
  mainUsPerFrame: number;
  threaded: boolean;
}

export async function benchStatusPage(o: { seconds?: number; fps?: number; maxFps?: number; width?: number } = {}): Promise<StatusBenchRow[]> {
  const seconds = o.seconds ?? 5;
  const fps = o.fps ?? 15;
  const scene = generateScene({ seed: 4242 });
  // A handful of real frames, reused in turn (rendering is the generator's cost, not the page's), at the size the
  // loop really holds: the source scales to the model's input (320x240 for the demo model), and so does the page.
  const width = o.width ?? 320;
  const height = Math.round((width * scene.height) / scene.width);
  const pictures = Array.from({ length: 8 }, (_, i) => scale(renderFrame(scene, 30 + i * 4), scene.width, scene.height, width, height));
  const frameAt = (i: number): Frame => ({ seq: i, captureMono: performance.now(), captureWall: Date.now(), ptsMs: (i * 1000) / fps, width, height, format: 'rgb24', data: pictures[i % pictures.length]! });
  const detections = [{ classId: 0, label: 'part', score: 0.93, box: [0.2, 0.3, 0.4, 0.5] as [number, number, number, number], trackId: 1, hits: 5 }];

  const run = async (scenario: string, feed: StatusFeed | undefined, viewer: boolean): Promise<StatusBenchRow> => {
    let stop = false;
    let provided = 0;
    const view = feed?.liveView('main');
    const watch = async () => {
      let after = 0;
      while (!stop) after = (await view!.next(after, 1_000))?.n ?? after;
    };
    // Warm-up outside the window (JIT), then the viewer connects.
    for (let i = 0; i < 2_000; i++) feed?.frame('main', () => ({ frame: frameAt(i), detections, fired: [] }));
    const watching = viewer ? watch() : Promise.resolve();
    if (viewer) await new Promise((r) => setTimeout(r, 300)); // first picture (worker start-up) outside the window
    const encoded0 = view?.counters.encoded ?? 0;
    let main = 0;
    let frames = 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await new Promise<void>((done) => {
      const timer = setInterval(() => {
        const f = frameAt(frames++);
        const m0 = performance.now();
        feed?.frame('main', () => {
          provided++;
          return { frame: f, detections, fired: [] };
        });
        main += performance.now() - m0;
        if (performance.now() - t0 >= seconds * 1000) {
          clearInterval(timer);
          done();
        }
      }, 1000 / fps);
    });
    const cpu = process.cpuUsage(cpu0);
    stop = true;
    await watching;
    const encoded = (view?.counters.encoded ?? 0) - encoded0;
    const us = cpu.user + cpu.system;
    return {
      scenario,
      frames,
      provided,
      encoded,
      cpuUsPerFrame: us / frames,
      ...(encoded ? { cpuUsPerEncoded: us / encoded } : {}),
      mainUsPerFrame: (main * 1000) / frames,
      threaded: Boolean(feed && (feed as unknown as { encoder: { threaded(): boolean } }).encoder.threaded()),
    };
  };

  const mk = () => new StatusFeed({ device: { id: 'bench' }, cameras: [{ name: 'main', describe: 'demo scene', width, height }], outputs: {}, maxFps: o.maxFps ?? 3 });
  const rows: StatusBenchRow[] = [];
  rows.push(await run('no page', undefined, false));
  const quiet = mk();
  rows.push(await run('no viewer', quiet, false));
  await quiet.close();
  const watched = mk();
  rows.push(await run('one viewer', watched, true));
  await watched.close();
  return rows;
}

export interface AgentStatusRow {
  scenario: 'page off' | 'no viewer' | 'one viewer';
  frames: number;
  seconds: number;
  fps: number;
  /** The agent process's CPU (user+system, every thread; ffmpeg is a child process and not counted) per frame. */
  cpuUsPerFrame: number;
  pictures: number;
  /** The loop's own time after inference (decode + track + rules, where the bus listeners run), mean µs per frame. */
  loopUsPerFrame: number;
}

export interface AgentStatusBench {
  rows: AgentStatusRow[];
  /** CPU per frame with the page served and nobody watching, over the page off (1.00 = the same). */
  quietRatio: number;
  /** CPU the page adds per frame with one viewer. */
  viewerAddedUsPerFrame: number;
  rounds: number;
}

/**
 * The real agent (composeAgent, the demo config: real ffmpeg at the clip's 15 fps, the demo model on ONNX Runtime,
 * simulated outputs) run three ways in turn, `rounds` times: status page off, page served with nobody watching, and
 * one viewer long-polling live pictures over HTTP (in this process, as a browser's fetch loop would). The median
 * round (by the no-viewer ratio) is reported, each scenario as the median of its rounds.
 */
export async function benchAgentStatusPage(o: { seconds?: number; rounds?: number } = {}): Promise<AgentStatusBench> {
  const seconds = o.seconds ?? 8;
  const rounds = Math.max(1, o.rounds ?? 3);
  const { ensureScene } = await import('../demo-scene/index.js');
  await ensureScene(demoSceneDir(), DEMO_SEED);
  const { composeAgent } = await import('../../agent/app/compose.js');
  const dir = mkdtempSync(join(tmpdir(), 'edge-agent-status-bench-'));
  const base = parse(readFileSync(demoConfigPath(), 'utf8')) as Record<string, Record<string, unknown>>;
  const baseDir = resolve(demoConfigPath(), '..');
  base.source!.path = resolve(baseDir, String(base.source!.path));
  base.model!.manifest = resolve(baseDir, String(base.model!.manifest));
  base.health = { enabled: true, listen: '127.0.0.1:0' };
  base.events = { jsonl: join(dir, 'events.jsonl') };

  const once = async (scenario: AgentStatusRow['scenario']): Promise<AgentStatusRow> => {
    const file = join(dir, `${scenario.replace(/ /g, '-')}.yaml`);
    writeFileSync(file, stringify({ ...base, status: { enabled: scenario !== 'page off', maxFps: 3 } }));
    const agent = composeAgent({ loaded: loadConfigFile(file), log: silentLogger, mode: 'latest', stateDir: join(dir, 'state'), simulateOutputs: join(dir, 'outputs.jsonl') });
    await agent.start();
    const running = agent.run();
    const url = agent.healthUrl()!;
    let stop = false;
    let pictures = 0;
    const viewer = async (): Promise<void> => {
      let after = 0;
      while (!stop) {
        const r = await fetch(`${url}/status/frame/default.jpg?after=${after}&wait=2000`);
        const body = await r.arrayBuffer();
        if (r.status !== 200) continue;
        if (body.byteLength) pictures++;
        after = (JSON.parse(decodeURIComponent(r.headers.get('x-frame')!)) as { n: number }).n;
      }
    };
    // Warm-up (first inferences, JIT) outside the window; the viewer connects before it opens.
    await new Promise((r) => setTimeout(r, 1_500));
    const watching = scenario === 'one viewer' ? viewer() : Promise.resolve();
    if (scenario === 'one viewer') await new Promise((r) => setTimeout(r, 500));
    const f0 = agent.pipeline!.stats.frames;
    const p0 = pictures;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const cpu = process.cpuUsage(cpu0);
    const secs = (performance.now() - t0) / 1000;
    const frames = agent.pipeline!.stats.frames - f0;
    const st = agent.pipeline!.stats.stages;
    const loopUs = (st.decode.mean() + st.track.mean() + st.rules.mean()) * 1000;
    const shown = pictures - p0;
    stop = true;
    await watching;
    agent.requestStop();
    await running;
    await agent.stop();
    return { scenario, frames, seconds: secs, fps: frames / secs, cpuUsPerFrame: (cpu.user + cpu.system) / Math.max(1, frames), pictures: shown, loopUsPerFrame: loopUs };
  };

  const all: AgentStatusRow[][] = [];
  try {
    for (let i = 0; i < rounds; i++) all.push([await once('page off'), await once('no viewer'), await once('one viewer')]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
  const rows = (['page off', 'no viewer', 'one viewer'] as const).map((s, k) => {
    const rs = all.map((r) => r[k]!);
    return { scenario: s, frames: median(rs.map((r) => r.frames)), seconds: median(rs.map((r) => r.seconds)), fps: median(rs.map((r) => r.fps)), cpuUsPerFrame: median(rs.map((r) => r.cpuUsPerFrame)), pictures: median(rs.map((r) => r.pictures)), loopUsPerFrame: median(rs.map((r) => r.loopUsPerFrame)) };
  });
  return { rows, quietRatio: rows[1]!.cpuUsPerFrame / rows[0]!.cpuUsPerFrame, viewerAddedUsPerFrame: rows[2]!.cpuUsPerFrame - rows[0]!.cpuUsPerFrame, rounds };
}

export function formatAgentStatusTable(r: AgentStatusBench): string {
  const lines = [
    `the agent on the demo clip (15 fps, realtime), status page off / served with nobody watching / one viewer at status.maxFps 3; median of ${r.rounds} rounds; agent CPU (user+system, all threads, not ffmpeg)`,
    'scenario      frames   fps   agent CPU µs/frame  loop µs/frame (decode+track+rules)  live pictures',
  ];
  for (const x of r.rows) lines.push(`${x.scenario.padEnd(12)}  ${String(x.frames).padStart(6)}  ${x.fps.toFixed(1).padStart(4)}  ${x.cpuUsPerFrame.toFixed(0).padStart(18)}  ${x.loopUsPerFrame.toFixed(0).padStart(34)}  ${String(x.pictures).padStart(13)}`);
  lines.push(`nobody watching / page off, CPU per frame: ${r.quietRatio.toFixed(3)} (1.000 = the same cost)`);
  lines.push(`one viewer adds ${r.viewerAddedUsPerFrame.toFixed(0)} µs of CPU per frame (${(r.viewerAddedUsPerFrame / 1000).toFixed(2)} ms; the viewer's own HTTP client runs in this process too)`);
  return lines.join('\n');
}

/** Box-filter downscale of packed RGB (what ffmpeg's scaler does for the model input, near enough for a cost figure). */
function scale(src: Uint8Array, sw: number, sh: number, dw: number, dh: number): Uint8Array {
  const out = new Uint8Array(dw * dh * 3);
  for (let y = 0; y < dh; y++) {
    const sy = Math.floor((y * sh) / dh);
    for (let x = 0; x < dw; x++) {
      const sx = Math.floor((x * sw) / dw);
      for (let c = 0; c < 3; c++) out[(y * dw + x) * 3 + c] = src[(sy * sw + sx) * 3 + c]!;
    }
  }
  return out;
}

export function formatStatusTable(rows: StatusBenchRow[], o: { fps: number; maxFps: number; width: number }): string {
  const base = rows[0]!.cpuUsPerFrame;
  const lines = [
    `status page: ${o.width}-wide frames offered at ${o.fps} fps, live picture capped at ${o.maxFps} fps (CPU = user+system of every thread)`,
    'scenario      frames  provider  encoded  CPU µs/frame  added µs/frame  CPU µs/picture  main µs/frame',
  ];
  for (const r of rows) {
    lines.push(
      `${r.scenario.padEnd(12)}  ${String(r.frames).padStart(6)}  ${String(r.provided).padStart(8)}  ${String(r.encoded).padStart(7)}  ${r.cpuUsPerFrame.toFixed(0).padStart(12)}  ${(r.cpuUsPerFrame - base).toFixed(0).padStart(14)}  ${(r.cpuUsPerEncoded?.toFixed(0) ?? '-').padStart(14)}  ${r.mainUsPerFrame.toFixed(1).padStart(13)}`,
    );
  }
  const viewer = rows.find((r) => r.scenario === 'one viewer');
  if (viewer) lines.push(`JPEG encoding ran ${viewer.threaded ? 'on the snapshot worker thread' : 'inline on the main thread (compiled worker missing: run npm run build)'}.`);
  return lines.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({ options: { seconds: { type: 'string' }, fps: { type: 'string' }, 'max-fps': { type: 'string' }, width: { type: 'string' }, json: { type: 'boolean' } } });
  const opts = { seconds: Number(values.seconds ?? 5), fps: Number(values.fps ?? 15), maxFps: Number(values['max-fps'] ?? 3), width: Number(values.width ?? 320) };
  const rows = await benchStatusPage(opts);
  process.stdout.write(values.json ? `${JSON.stringify(rows)}\n` : `${formatStatusTable(rows, opts)}\n`);
}
