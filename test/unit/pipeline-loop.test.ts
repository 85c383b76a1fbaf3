/**
 * The frame loop with fakes at its ports (source, backend, outputs, events) and the real packer, tracker and rules:
 * the order of work with a backend in this thread or on its own, frames given back only after their events, and
 * the inference deadline in both modes (a backend restart follows).
 */
import { describe, expect, it, vi } from 'vitest';
import { ruleSchema } from '../../agent/config/sections/rules.js';
import type { DecodeFn } from '../../agent/decode/types.js';
import { inputSchema } from '../../agent/model/manifest-schema.js';
import { FairShare } from '../../agent/cameras/fair-share.js';
import { Pipeline } from '../../agent/pipeline/pipeline.js';
import { computeGeometry } from '../../agent/preprocess/geometry.js';
import { TensorPacker } from '../../agent/preprocess/tensor.js';
import { RuleEngine } from '../../agent/rules/engine.js';
import { IouTracker } from '../../agent/tracker/tracker.js';
import type { AnomalyEvent, Clock, Frame, FrameSource, InferenceBackend, OutputTensor } from '../../agent/types.js';

const W = 8;
const H = 6;
const input = inputSchema.parse({ name: 'images', shape: [1, 3, H, W], layout: 'NCHW', normalise: { mean: [0, 0, 0], std: [255, 255, 255] } });

/** A finite source of `n` frames; each frame's first byte is its number, and its release is recorded. */
function source(n: number, log: string[], released: Set<number>, gapMs = 0, wideAt?: number): FrameSource {
  let seq = 0;
  return {
    type: 'fake',
    describe: () => 'fake',
    start: async () => undefined,
    stop: async () => undefined,
    fps: () => 10,
    stats: () => ({ framesIn: seq, framesDropped: 0, restarts: 0 }),
    geometry: () => computeGeometry(W, H, W, H, 'stretch'),
    next: async () => {
      if (seq >= n) return null;
      if (gapMs && seq > 0) await new Promise((r) => setTimeout(r, gapMs)); // a camera: the next frame comes later
      const s = seq++;
      log.push(`take ${s}`);
      const w = s === wideAt ? W + 1 : W; // a source that went wrong: a frame of another size
      const data = new Uint8Array(w * H * 3).fill(s);
      return { seq: s, captureMono: s * 100, captureWall: Date.UTC(2026, 0, 1) + s * 100, ptsMs: s * 100, width: w, height: H, format: 'rgb24', data, release: () => released.add(s) } satisfies Frame;
    },
  };
}

/** What both fake backends share: one input, one output, loaded at once, on the CPU. */
const tensors = {
  load: async () => undefined,
  inputs: () => [{ name: 'images', dtype: 'float32' as const, shape: [1, 3, H, W] }],
  outputs: () => [{ name: 'out', dtype: 'float32' as const, shape: [1] }],
  accelerator: () => 'cpu' as const,
};

/**
 * A backend whose output says which frame it saw (the first packed value x 255); `hangOn` never answers. With
 * `depth` 2 it queues calls like the ONNX Runtime worker: it reads the input when called, runs one call at a time in
 * arrival order, and each call takes 5 ms of the fake clock; close() fails the calls still queued `closeGraceMs` later
 * (a worker terminated after its grace).
 */
function backend(thread: 'main' | 'worker', log: string[], o: { clock?: { t: number }; slowOn?: number; hangOn?: number; depth?: number; closeGraceMs?: number; packs?: boolean } = {}): InferenceBackend {
  if (o.depth && o.packs) {
    // Packs frames itself (like the ONNX Runtime worker after packFrames()): it reads the frame's pixels when called.
    const queue = backend(thread, log, { ...o, packs: false });
    return {
      ...queue,
      packsFrames: () => true,
      runFrame: (frame) => {
        log.push(`frame ${frame.data[0]}`);
        return queue.run({ images: Float32Array.of(frame.data[0]! / 255) });
      },
      run: () => Promise.reject(new Error('run() called on a backend that packs frames')),
    };
  }
  if (o.depth) {
    let chain: Promise<unknown> = Promise.resolve();
    let closed: (err: Error) => void = () => undefined;
    const closing = new Promise<never>((_, rej) => (closed = rej));
    closing.catch(() => undefined);
    return {
      ...tensors,
      type: 'fake-queue',
      runsIn: () => 'worker',
      maxInFlight: () => o.depth!,
      close: async () => {
        log.push('close');
        setTimeout(() => closed(new Error('the inference thread exited (1)')), o.closeGraceMs ?? 0);
      },
      run: (inputs) => {
        const k = Math.round((inputs.images as Float32Array)[0]! * 255); // read when called
        log.push(`call ${k}`);
        const run = chain.then(async () => {
          if (k === o.hangOn) await new Promise(() => undefined);
          await new Promise((r) => setTimeout(r, 2));
          if (o.clock) o.clock.t += 5;
          log.push(`infer ${k}`);
          return { out: { dims: [1], data: Float32Array.of(k) } };
        });
        chain = run.catch(() => undefined);
        return Promise.race([run, closing]);
      },
    };
  }
  return {
    ...tensors,
    type: 'fake',
    runsIn: () => thread,
    close: async () => undefined,
    run: async (inputs) => {
      const k = Math.round((inputs.images as Float32Array)[0]! * 255);
      if (k === o.hangOn) return new Promise<Record<string, OutputTensor>>(() => undefined);
      if (thread === 'main') {
        // Like onnxruntime-node: the call runs in a later setImmediate and blocks the thread meanwhile.
        await new Promise((r) => setImmediate(r));
        if (o.clock && k === o.slowOn) o.clock.t += 500;
      } else {
        await new Promise((r) => setTimeout(r, 5)); // another thread computing while this one goes on
      }
      log.push(`infer ${k}`);
      return { out: { dims: [1], data: Float32Array.of(k) } };
    },
  };
}

/** The entries of a log that start with `what`. */
const r = (log: string[], what: string): string[] => log.filter((x) => x.startsWith(what));

/** Every frame yields one "defect" in the same place, so the 1-of-1 rule fires on the first frame only. */
const decode: DecodeFn = (outs) => [{ classId: 0, label: 'defect', score: 0.9, box: [0.2, 0.2, 0.4, 0.4], frame: outs.out!.data[0] } as never];

function loop(o: { thread: 'main' | 'worker'; frames: number; clock?: { t: number }; slowOn?: number; hangOn?: number; timeoutMs?: number; gapMs?: number; prefetch?: boolean; failPost?: number; depth?: number; closeGraceMs?: number; packs?: boolean; wideAt?: number; lane?: boolean }) {
  const log: string[] = [];
  const released = new Set<number>();
  const events: Array<{ ev: AnomalyEvent; releasedAtEmit: boolean; pixel: number }> = [];
  const clock: Clock = o.clock ? { now: () => o.clock!.t, wall: () => Date.UTC(2026, 0, 1) + o.clock!.t } : { now: () => performance.now(), wall: () => Date.now() };
  let reloads = 0;
  // lane: the backend as one camera of several sees it, through the session they share (agent/cameras/fair-share.ts).
  let current: InferenceBackend = o.lane ? new FairShare(backend(o.thread, log, o)).lane('cam1') : backend(o.thread, log, o);
  const packer = new TensorPacker(input);
  const p = new Pipeline({
    source: source(o.frames, log, released, o.gapMs, o.wideAt),
    packer,
    backend: current,
    inputName: 'images',
    decode: (outs, ctx) => {
      if (outs.out!.data[0] === o.failPost) throw new Error(`decoder failed on frame ${o.failPost}`);
      log.push(`post ${outs.out!.data[0]}`);
      return decode(outs, ctx);
    },
    decodeCtx: { spec: {} as never, labels: ['part', 'defect'], inputWidth: W, inputHeight: H, geometry: computeGeometry(W, H, W, H, 'stretch') },
    tracker: new IouTracker({ iou: 0.3, maxAgeMs: 1000, centreGate: 0.75 }),
    rules: new RuleEngine([ruleSchema.parse({ name: 'defect', type: 'anomaly', labels: { defect: 0.5 }, persistence: { n: 1, m: 1 }, actions: [{ type: 'event' }] })]),
    outputs: { pulse: () => ({ type: 'pulse', output: 'x', status: 'scheduled' }) as never, hold: () => ({ type: 'hold', output: 'x', status: 'scheduled' }) as never, heartbeat: () => undefined },
    events: {
      emit: async (ev, evidence) => {
        await new Promise((r) => setTimeout(r, 5)); // a sink that takes a while (fsync)
        events.push({ ev, releasedAtEmit: released.has(evidence!.frame.seq), pixel: evidence!.frame.data[0]! });
      },
    },
    model: { name: 'm', variant: 'v', sha256: 'x', accelerator: 'cpu' },
    newEventId: () => `e${events.length}`,
    clock,
    prefetch: o.prefetch ?? true,
    inferenceTimeoutMs: o.timeoutMs,
    reloadBackend: async () => {
      reloads++;
      void current.close(); // as the agent does: the old one is closed in the background
      current = backend(o.thread, log, { depth: o.depth, clock: o.clock, closeGraceMs: o.closeGraceMs });
      return current;
    },
  });
  return { p, log, released, events, packer, reloads: () => reloads };
}

describe('frame loop', () => {
  it('backend in this thread: each frame is taken, inferred and finished before the next is taken', async () => {
    const l = loop({ thread: 'main', frames: 4 });
    await l.p.run();
    expect(l.log).toEqual(['take 0', 'infer 0', 'post 0', 'take 1', 'infer 1', 'post 1', 'take 2', 'infer 2', 'post 2', 'take 3', 'infer 3', 'post 3']);
    expect([...l.released].sort()).toEqual([0, 1, 2, 3]);
  });

  it('backend on its own thread: the next frame is read and packed while the current one infers', async () => {
    const l = loop({ thread: 'worker', frames: 3 });
    await l.p.run();
    expect(l.log.slice(0, 3)).toEqual(['take 0', 'take 1', 'infer 0']);
    expect(l.log.filter((x) => x.startsWith('post'))).toEqual(['post 0', 'post 1', 'post 2']);
    expect(l.released.size).toBe(3);
  });

  it.each([
    ['its own session', false],
    ['a session shared by cameras (its lane)', true],
  ])('files, a backend that queues calls, %s: the next frame is handed over before the current one returns; results, rules and releases stay in order', async (_, lane) => {
    const clock = { t: 0 };
    const l = loop({ thread: 'worker', frames: 5, depth: 2, clock, lane });
    await l.p.run();
    expect(l.log.indexOf('call 1')).toBeLessThan(l.log.indexOf('infer 0'));
    expect(l.log.indexOf('call 2')).toBeLessThan(l.log.indexOf('infer 1'));
    expect(l.log.filter((x) => x.startsWith('post'))).toEqual(['post 0', 'post 1', 'post 2', 'post 3', 'post 4']);
    expect(l.log.filter((x) => x.startsWith('infer'))).toEqual(['infer 0', 'infer 1', 'infer 2', 'infer 3', 'infer 4']);
    // Never more than two calls outstanding.
    let out = 0;
    for (const x of l.log) {
      if (x.startsWith('call')) out++;
      if (x.startsWith('infer')) out--;
      expect(out).toBeLessThanOrEqual(2);
    }
    expect([...l.released].sort()).toEqual([0, 1, 2, 3, 4]);
    expect(l.events).toHaveLength(1);
    expect(l.events[0]).toMatchObject({ releasedAtEmit: false, pixel: 0 });
    // Each call's time is its own 5 ms, not its wait behind the call before it.
    expect(l.p.stats.stages.inference.percentile(100)).toBe(5);
  });

  it('a camera on a session shared by cameras keeps one call in flight: its next frame is taken once the call before is done', async () => {
    const l = loop({ thread: 'worker', frames: 4, depth: 2, prefetch: false, lane: true });
    await l.p.run();
    for (let k = 1; k < 4; k++) expect(l.log.indexOf(`take ${k}`)).toBeGreaterThan(l.log.indexOf(`infer ${k - 1}`));
    expect(r(l.log, 'post')).toEqual(['post 0', 'post 1', 'post 2', 'post 3']);
  });

  it('a backend that packs frames itself gets each frame (never a packed tensor), in order, two at most outstanding; preprocess costs the loop nothing', async () => {
    const clock = { t: 0 };
    const l = loop({ thread: 'worker', frames: 5, depth: 2, clock, packs: true });
    const pack = vi.spyOn(l.packer, 'pack');
    await l.p.run();
    expect(pack).not.toHaveBeenCalled();
    expect(l.log.filter((x) => x.startsWith('frame'))).toEqual(['frame 0', 'frame 1', 'frame 2', 'frame 3', 'frame 4']);
    expect(l.log.indexOf('frame 1')).toBeLessThan(l.log.indexOf('infer 0'));
    let out = 0;
    for (const x of l.log) {
      if (x.startsWith('frame')) out++;
      if (x.startsWith('infer')) out--;
      expect(out).toBeLessThanOrEqual(2);
    }
    expect(l.log.filter((x) => x.startsWith('post'))).toEqual(['post 0', 'post 1', 'post 2', 'post 3', 'post 4']);
    expect([...l.released].sort()).toEqual([0, 1, 2, 3, 4]);
    expect(l.events[0]).toMatchObject({ releasedAtEmit: false, pixel: 0 });
    expect(l.p.stats.stages.preprocess.percentile(100)).toBe(0);
    expect(l.p.stats.stages.inference.percentile(100)).toBe(5);
  });

  it('a backend that packs frames: a frame of the wrong size is still the source\'s error (run() rejects), not an inference failure', async () => {
    const l = loop({ thread: 'worker', frames: 4, depth: 2, packs: true, wideAt: 2 });
    await expect(l.p.run()).rejects.toMatchObject({ code: 'SOURCE_FAILED', message: `frame is ${W + 1}x${H}, the model wants ${W}x${H}` });
    expect(l.p.stats.inferenceErrors).toBe(0);
    expect(r(l.log, 'frame')).not.toContain('frame 2');
    expect(r(l.log, 'post')).toEqual(['post 0', 'post 1']);
  });

  it('a frame taken for a backend that packs frames is packed here when the backend that runs it does not (a swap in between)', async () => {
    const log: string[] = [];
    const l = loop({ thread: 'worker', frames: 3, depth: 2, packs: true });
    const plain = backend('worker', log, { depth: 2 });
    let swapped = false;
    const orig = l.p['take'].bind(l.p);
    l.p['take'] = async () => {
      const r = await orig();
      if (r && !swapped) {
        // The first frame was taken for the packing backend; the loop swaps to one that does not pack before its call.
        swapped = true;
        l.p.swapModel({ backend: plain, packer: new TensorPacker(input), model: { name: 'm', variant: 'w', sha256: 'y', accelerator: 'cpu' } });
      }
      return r;
    };
    await l.p.run();
    expect(r(l.log, 'frame')).toEqual([]);
    expect(r(log, 'call')).toEqual(['call 0', 'call 1', 'call 2']);
    expect(r(l.log, 'post')).toEqual(['post 0', 'post 1', 'post 2']);
  });

  it('files, a backend that queues calls: a hung call times out, the backend restarts, the call queued behind it fails, and the loop goes on', async () => {
    const l = loop({ thread: 'worker', frames: 5, depth: 2, hangOn: 1, timeoutMs: 50 });
    await l.p.run();
    expect(l.p.stats.inferenceTimeouts).toBe(1);
    expect(l.p.stats.inferenceErrors).toBe(1); // frame 2 was queued at the closed backend
    expect(l.reloads()).toBe(1);
    expect(l.log.filter((x) => x.startsWith('post'))).toEqual(['post 0', 'post 3', 'post 4']);
    expect([...l.released].sort()).toEqual([0, 1, 2, 3, 4]);
  });

  it('files, a backend that queues calls: when the hung backend takes longer to close than the deadline, the call queued behind it times out too, but the healthy new backend is not restarted', async () => {
    const l = loop({ thread: 'worker', frames: 5, depth: 2, hangOn: 1, timeoutMs: 50, closeGraceMs: 300 });
    await l.p.run();
    expect(l.p.stats.inferenceTimeouts).toBe(2);
    expect(l.reloads()).toBe(1);
    expect(l.log.filter((x) => x === 'close')).toHaveLength(1);
    expect(l.log.filter((x) => x.startsWith('post'))).toEqual(['post 0', 'post 3', 'post 4']);
  });

  it('backend on its own thread, camera source: a frame is finished as soon as it is inferred, not when the next frame comes', async () => {
    const l = loop({ thread: 'worker', frames: 3, gapMs: 40, prefetch: false });
    await l.p.run();
    expect(l.log).toEqual(['take 0', 'infer 0', 'post 0', 'take 1', 'infer 1', 'post 1', 'take 2', 'infer 2', 'post 2']);
  });

  it('backend on its own thread: a failure while finishing a frame ends run() with it, even while the next frame is awaited', async () => {
    const l = loop({ thread: 'worker', frames: 3, gapMs: 40, prefetch: false, failPost: 0 });
    await expect(l.p.run()).rejects.toThrow('decoder failed on frame 0');
    expect(l.released.has(0)).toBe(true);
  });

  it.each(['main', 'worker'] as const)('%s: a frame goes back to its source only after its event is queued, with its own pixels', async (thread) => {
    const l = loop({ thread, frames: 3 });
    await l.p.run();
    expect(l.events).toHaveLength(1);
    expect(l.events[0]).toMatchObject({ releasedAtEmit: false, pixel: 0 });
    expect(l.released.has(0)).toBe(true);
  });

  it('worker: a call that never answers times out, is counted, and the backend is restarted; the loop goes on', async () => {
    const l = loop({ thread: 'worker', frames: 3, hangOn: 1, timeoutMs: 50 });
    await l.p.run();
    expect(l.p.stats.inferenceTimeouts).toBe(1);
    expect(l.reloads()).toBe(1);
    expect(l.log.filter((x) => x.startsWith('infer'))).toEqual(['infer 0', 'infer 2']);
  });

  it('main: a call that returns after its deadline counts as a timeout (no timer can fire during it) and restarts the backend', async () => {
    const clock = { t: 0 };
    const l = loop({ thread: 'main', frames: 3, clock, slowOn: 1, timeoutMs: 100 });
    await l.p.run();
    expect(l.p.stats.inferenceTimeouts).toBe(1);
    expect(l.p.stats.backendRestarts).toBe(1);
    expect(l.log.filter((x) => x.startsWith('post'))).toEqual(['post 0', 'post 2']);
    expect(l.released.size).toBe(3);
  });
});
