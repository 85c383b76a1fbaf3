import { describe, expect, it } from 'vitest';
import { FrameSlot } from '../../drivers/camera/frame-slot.js';
import type { Frame } from '../../agent/types.js';

const f = (seq: number): Frame => ({ seq, captureMono: seq, captureWall: seq, ptsMs: seq, width: 1, height: 1, format: 'rgb24', data: new Uint8Array(3) });

describe('FrameSlot', () => {
  it('latest mode: a newer frame replaces one not taken, and the drop is counted', async () => {
    const s = new FrameSlot('latest');
    expect(s.offer(f(0))).toBe(true);
    expect(s.offer(f(1))).toBe(true);
    expect(s.offer(f(2))).toBe(true);
    expect((await s.take())!.seq).toBe(2);
    expect(s.dropped).toBe(2);
  });

  it('latest mode: a replaced frame is given back to its source, the one taken is not', async () => {
    const s = new FrameSlot('latest');
    const released: number[] = [];
    const g = (seq: number): Frame => ({ ...f(seq), release: () => released.push(seq) });
    s.offer(g(0));
    s.offer(g(1));
    s.offer(g(2));
    expect((await s.take())!.seq).toBe(2);
    expect(released).toEqual([0, 1]);
  });

  it('lossless mode: asks the producer to pause and calls back once the frame is taken', async () => {
    const s = new FrameSlot('lossless');
    expect(s.offer(f(0))).toBe(false);
    let resumed = 0;
    s.whenTaken(() => resumed++);
    expect(() => s.offer(f(1))).toThrow(/lossless/);
    expect((await s.take())!.seq).toBe(0);
    expect(resumed).toBe(1);
    expect(s.dropped).toBe(0);
  });

  it('hands a frame straight to a waiting consumer', async () => {
    const s = new FrameSlot('lossless');
    const p = s.take();
    expect(s.offer(f(7))).toBe(true);
    expect((await p)!.seq).toBe(7);
  });

  it('end(): delivers the last frame, then null', async () => {
    const s = new FrameSlot('lossless');
    s.offer(f(1));
    s.end();
    expect((await s.take())!.seq).toBe(1);
    expect(await s.take()).toBeNull();
    const s2 = new FrameSlot('latest');
    const p = s2.take();
    s2.end();
    expect(await p).toBeNull();
  });

  it('fail(): rejects the waiting consumer with the source error', async () => {
    const s = new FrameSlot('latest');
    const p = s.take();
    s.fail(new Error('camera gone'));
    await expect(p).rejects.toThrow('camera gone');
  });
});
