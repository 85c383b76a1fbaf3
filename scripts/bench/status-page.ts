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
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
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
