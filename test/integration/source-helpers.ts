import { spawnSync } from 'node:child_process';
import { inputSchema, type ManifestInput } from '../../agent/model/manifest-schema.js';
import type { Frame, FrameSource } from '../../agent/types.js';

/** A small model input so that tests move few bytes. */
export function testInput(over: Partial<ManifestInput> = {}): ManifestInput {
  return inputSchema.parse({ name: 'images', shape: [1, 3, 48, 64], layout: 'NCHW', ...over });
}

/** Runs ffmpeg to make a test clip or image; throws with its stderr on failure. */
export function ffmpeg(args: string[]): void {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ffmpeg ${args.join(' ')} failed: ${r.stderr}`);
}

/** Takes frames until `n` arrived, the source ended (null) or `timeoutMs` passed; `delayMs` simulates a slow consumer. */
export async function take(src: FrameSource, n: number, opts: { delayMs?: number; timeoutMs?: number } = {}): Promise<Frame[]> {
  const out: Frame[] = [];
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  while (out.length < n) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    const f = await Promise.race([src.next(), new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), left))]);
    if (f === 'timeout' || f === null) break;
    out.push(f);
    if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
  }
  return out;
}

/** Polls `cond` until true or the timeout; returns whether it became true. */
export async function until(cond: () => boolean, timeoutMs = 10_000, stepMs = 25): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return cond();
}

/** Mean of one channel over a rectangle of a packed RGB frame. */
export function meanRgb(f: Frame, x0: number, y0: number, w: number, h: number): [number, number, number] {
  const s = [0, 0, 0];
  for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) for (let c = 0; c < 3; c++) s[c]! += f.data[(y * f.width + x) * 3 + c]!;
  return s.map((v) => Math.round(v / (w * h))) as [number, number, number];
}
