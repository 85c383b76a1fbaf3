/**
 * The ONNX Runtime backend's worker thread on the real demo model: inputs travel in pooled buffers moved to the
 * worker and back, so calls in flight at the same time must each get the answer for their own input, and a caller
 * may refill its tensor as soon as run() has been called.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultSpawner } from '../../drivers/camera/tools.js';
import { allowedCpus, parseCpuList, threadCpus } from '../../drivers/inference/affinity.js';
import { OnnxRuntimeBackend } from '../../drivers/inference/onnxruntime.js';
import { loadManifest } from '../../agent/model/manifest.js';
import { TensorPacker } from '../../agent/preprocess/tensor.js';
import type { FramePixels } from '../../agent/types.js';
import { repoRoot } from '../helpers/cli.js';

const dir = join(repoRoot, 'models', 'conveyor-demo');
const file = join(dir, 'student.onnx');
const ready = existsSync(file) && existsSync(join(repoRoot, 'dist', 'drivers', 'inference', 'onnxruntime-worker.js'));
const shape = [1, 3, 240, 320];
/** The demo model's known-answer input, a copy of its own. */
const knownInput = (): Float32Array => new Float32Array(readFileSync(join(dir, 'ka_input.f32')).buffer.slice(0));

/** A backend on the demo model, in the worker or in this thread, closed after `use` whatever happens. */
async function withBackend<T>(worker: boolean, use: (b: OnnxRuntimeBackend) => Promise<T>): Promise<T> {
  const b = new OnnxRuntimeBackend(undefined, { worker });
  try {
    await b.load({ file, accelerator: 'cpu', threads: 1 });
    return await use(b);
  } finally {
    await b.close();
  }
}

describe.skipIf(!ready)('onnxruntime backend in its worker thread', () => {
  let worker: OnnxRuntimeBackend;
  let here: OnnxRuntimeBackend;
  let inputs: Float32Array[];

  beforeAll(async () => {
    worker = new OnnxRuntimeBackend(undefined, { worker: true });
    here = new OnnxRuntimeBackend(undefined, { worker: false });
    await worker.load({ file, accelerator: 'cpu', threads: 1 });
    await here.load({ file, accelerator: 'cpu', threads: 1 });
    const ka = knownInput();
    const flipped = ka.slice().reverse();
    const grey = new Float32Array(ka.length).fill(0.5);
    inputs = [ka, flipped, grey];
  });
  afterAll(async () => {
    await worker?.close();
    await here?.close();
  });

  it('calls in flight together each get their own answer, equal to a run on this thread', async () => {
    const expected: Float32Array[] = [];
    for (const x of inputs) expected.push((await here.run({ images: x })).output0!.data as Float32Array);
    expect(expected[0]).not.toEqual(expected[1]);
    const got = await Promise.all([...inputs, ...inputs].map((x) => worker.run({ images: x })));
    got.forEach((r, i) => {
      expect(r.output0!.dims).toEqual([1, 6, 1200]);
      expect(r.output0!.data, `call ${i}`).toEqual(expected[i % inputs.length]);
    });
  });

  it('inputs viewing a larger (even shared) memory at offsets reach the worker as their own bytes and give the same answers', async () => {
    expect(worker.maxInFlight()).toBe(2);
    expect(here.maxInFlight()).toBe(1);
    const expected: Float32Array[] = [];
    for (const x of inputs) expected.push((await here.run({ images: x })).output0!.data as Float32Array);
    // Views at offsets in one memory, as the SIMD packer lays its tensors out (shared here: the hardest case, since
    // onnxruntime-node itself refuses it).
    const mem = new SharedArrayBuffer(64 + inputs.reduce((n, x) => n + x.byteLength, 0));
    let at = 64;
    const shared = inputs.map((x) => {
      const s = new Float32Array(mem, at, x.length);
      at += x.byteLength;
      s.set(x);
      return s;
    });
    // Two queued at once, as the frame loop does with files: each answer is its own input's.
    const got = await Promise.all(shared.map((x) => worker.run({ images: x })));
    got.forEach((r, i) => expect(r.output0!.data, `call ${i}`).toEqual(expected[i]));
  });

  it('in this thread, a tensor viewing a larger buffer at an offset (the SIMD packer\'s memory) gives its own answer', async () => {
    const expected = (await here.run({ images: inputs[1]! })).output0!.data;
    const mem = new ArrayBuffer(4096 + inputs[1]!.byteLength + 4096);
    const view = new Float32Array(mem, 4096, inputs[1]!.length);
    view.set(inputs[1]!);
    new Float32Array(mem, 0, 1024).fill(7); // other data around it
    expect((await here.run({ images: view })).output0!.data).toEqual(expected);
  });

  it('the caller may overwrite its input tensor right after calling run()', async () => {
    const expected = (await here.run({ images: inputs[0]! })).output0!.data;
    const buf = inputs[0]!.slice();
    const pending = worker.run({ images: buf });
    buf.fill(0); // the next frame being packed into the same buffer
    expect((await pending).output0!.data).toEqual(expected);
    expect(shape.reduce((a, b) => a * b)).toBe(buf.length);
  });

  it('a call that fails in the worker (wrong input size) fails alone: calls queued beside it and after it still answer right', async () => {
    const expected: Float32Array[] = [];
    for (const x of inputs) expected.push((await here.run({ images: x })).output0!.data as Float32Array);
    const bad = new Float32Array(16);
    const [first, failed, second] = await Promise.allSettled([worker.run({ images: inputs[0]! }), worker.run({ images: bad }), worker.run({ images: inputs[1]! })]);
    expect(failed.status).toBe('rejected');
    expect(bad.length).toBe(16); // the caller's buffer is its own (never moved)
    expect(first.status === 'fulfilled' && first.value.output0!.data).toEqual(expected[0]);
    expect(second.status === 'fulfilled' && second.value.output0!.data).toEqual(expected[1]);
    // Afterwards (buffers of both sizes back in the pool), calls in flight still get their own answers.
    const got = await Promise.all(inputs.map((x) => worker.run({ images: x })));
    got.forEach((r, i) => expect(r.output0!.data, `call ${i}`).toEqual(expected[i]));
  });
});

describe.skipIf(!ready)('onnxruntime backend: packing frames in the worker', () => {
  const input = () => loadManifest(join(dir, 'manifest.json')).input;
  /** A 320x240 frame with a pattern of its own per `k`, as planes (gbrp) or packed RGB. */
  const frame = (k: number, format: 'gbrp' | 'rgb24'): FramePixels => ({ data: Uint8Array.from({ length: 320 * 240 * 3 }, (_, i) => (i * (7 + 2 * k) + k * 31) % 251), width: 320, height: 240, format });

  it('runFrame() packs each frame in the worker: calls in flight together each get the answer of the same frame packed here and run here', () =>
    withBackend(false, (here) =>
      withBackend(true, async (b) => {
        expect(b.packsFrames()).toBe(false);
        expect(await b.packFrames({ input: input() })).toBe(true);
        expect(b.packsFrames()).toBe(true);
        const packer = new TensorPacker(input());
        const frames = [frame(0, 'gbrp'), frame(1, 'gbrp'), frame(2, 'rgb24')];
        const expected: Float32Array[] = [];
        for (const f of frames) expected.push((await here.run({ images: packer.pack(f) })).output0!.data as Float32Array);
        expect(expected[0]).not.toEqual(expected[1]);
        const pending = frames.map((f) => b.runFrame(f));
        frames[0]!.data.fill(0); // the frame's buffer going back to the source right after the call
        const got = await Promise.all(pending);
        got.forEach((r, i) => expect(r.output0!.data, `frame ${i}`).toEqual(expected[i]));
        // Plain calls still work beside it.
        const ka = knownInput();
        expect((await b.run({ images: ka })).output0!.data).toEqual((await here.run({ images: ka })).output0!.data);
      })));

  it('a frame of the wrong size fails alone with the packer\'s reason; the calls beside and after it answer right', () =>
    withBackend(true, async (b) => {
      await b.packFrames({ input: input() });
      const good = frame(3, 'gbrp');
      const want = (await b.runFrame(good)).output0!.data;
      const small: FramePixels = { data: new Uint8Array(160 * 120 * 3), width: 160, height: 120, format: 'gbrp' };
      const [a, failed, c] = await Promise.allSettled([b.runFrame(good), b.runFrame(small), b.runFrame(good)]);
      expect(failed.status === 'rejected' && String(failed.reason.message)).toMatch(/inference failed: frame is 160x120, the model wants 320x240/);
      expect(a.status === 'fulfilled' && a.value.output0!.data).toEqual(want);
      expect(c.status === 'fulfilled' && c.value.output0!.data).toEqual(want);
      expect(small.data.length).toBe(160 * 120 * 3); // the caller's pixels are its own (never moved)
      expect((await b.runFrame(good)).output0!.data).toEqual(want);
    }));

  it('an input the packer cannot fill (one channel) is not packed in the worker: packFrames() resolves false and plain calls still run', () =>
    withBackend(true, async (b) => {
      expect(await b.packFrames({ input: { ...input(), shape: [1, 1, 240, 320] } })).toBe(false);
      expect(b.packsFrames()).toBe(false);
      expect((await b.run({ images: knownInput() })).output0!.data.length).toBe(6 * 1200);
    }));

  it('a session in the main thread does not pack frames: packFrames() says so and runFrame() is refused', () =>
    withBackend(false, async (here) => {
      expect(await here.packFrames({ input: input() })).toBe(false);
      expect(here.packsFrames()).toBe(false);
      await expect(here.runFrame(frame(0, 'gbrp'))).rejects.toThrow(/without packFrames/);
    }));
});

describe.skipIf(!ready)('onnxruntime backend: closing the worker', () => {
  it('close() lets the calls already queued finish with their answers, then ends the thread', async () => {
    const ka = knownInput();
    const here = new OnnxRuntimeBackend(undefined, { worker: false });
    await here.load({ file, accelerator: 'cpu', threads: 1 });
    const expected = (await here.run({ images: ka })).output0!.data;
    await here.close();
    const b = new OnnxRuntimeBackend(undefined, { worker: true });
    await b.load({ file, accelerator: 'cpu', threads: 1 });
    const queued = [b.run({ images: ka }), b.run({ images: ka })];
    const t0 = performance.now();
    await b.close();
    const got = await Promise.all(queued);
    for (const r of got) expect(r.output0!.data).toEqual(expected);
    expect(performance.now() - t0).toBeLessThan(1_500); // answered, not cut off by the 2 s grace
    await expect(b.run({ images: ka })).rejects.toThrow(/before load/);
  });
});

describe.skipIf(!ready || allowedCpus().length < 2)('onnxruntime backend: pinning the worker thread', () => {
  it('load({ pinCpu }) pins exactly the worker thread to that CPU (as the kernel reports it), and it still computes', async () => {
    const cpu = allowedCpus().at(-1)!;
    const onlyThat = (): number => readdirSync('/proc/self/task').filter((t) => threadCpus(Number(t)).join(',') === String(cpu)).length;
    const before = onlyThat();
    const b = new OnnxRuntimeBackend(undefined, { worker: true });
    try {
      await b.load({ file, accelerator: 'cpu', threads: 1, thread: 'worker', pinCpu: cpu });
      expect(b.pinnedCpu()).toBe(cpu);
      expect(onlyThat()).toBe(before + 1);
      const ka = knownInput();
      expect((await b.run({ images: ka })).output0!.data.length).toBe(6 * 1200);
    } finally {
      await b.close();
    }
    // In the main thread nothing is pinned, and the main thread is not restricted.
    const here = new OnnxRuntimeBackend(undefined, { worker: false });
    await here.load({ file, accelerator: 'cpu', threads: 1, thread: 'main', pinCpu: cpu });
    expect(here.pinnedCpu()).toBeUndefined();
    expect(threadCpus(process.pid)).toEqual(allowedCpus());
    await here.close();
  });

  it('while a pinned inference thread is busy, the main thread (the frame loop) is kept off its CPU; decoders it spawns meanwhile run on every CPU; idle or closed, the CPU is given back', async () => {
    const all = allowedCpus();
    const cpu = all.at(-1)!;
    const mainBefore = threadCpus(process.pid);
    const cpusOf = (pid: number): number[] => parseCpuList(/^Cpus_allowed_list:\s*(.+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]!);
    // Thresholds any real work passes whatever else runs on the machine (the agent's are 85 % and 70 % of 1 s).
    const guard = { keepOffAt: 0.05, letBackBelow: 0.02, everyMs: 200 };
    const a = new OnnxRuntimeBackend(undefined, { worker: true, mainThreadGuard: guard });
    const b = new OnnxRuntimeBackend(undefined, { worker: true, mainThreadGuard: guard });
    const ka = knownInput();
    try {
      await a.load({ file, accelerator: 'cpu', threads: 1, thread: 'worker', pinCpu: cpu });
      expect(a.mainThreadKeptOff()).toBe(false);
      // The worker's own run time, read from /proc, is what makes it busy: inferring back to back.
      const t0 = performance.now();
      while (!a.mainThreadKeptOff() && performance.now() - t0 < 20_000) await a.run({ images: ka });
      expect(a.mainThreadKeptOff()).toBe(true);
      expect(threadCpus(process.pid)).toEqual(all.filter((c) => c !== cpu));
      expect(allowedCpus()).toEqual(all);
      const child = defaultSpawner('sleep', ['5'], { stdio: 'ignore' });
      try {
        expect(cpusOf(child.pid!)).toEqual(all);
      } finally {
        child.kill();
      }
      // Idle: given back at the next look.
      await expect.poll(() => a.mainThreadKeptOff()).toBe(false);
      expect(threadCpus(process.pid)).toEqual(mainBefore);
      // Two sessions keeping it off (a candidate of the verification walk beside the running one): closing one is not enough.
      await b.load({ file, accelerator: 'cpu', threads: 1, thread: 'worker', pinCpu: cpu });
      const t1 = performance.now();
      while (!(a.mainThreadKeptOff() && b.mainThreadKeptOff()) && performance.now() - t1 < 20_000) await Promise.all([a.run({ images: ka }), b.run({ images: ka })]);
      expect(a.mainThreadKeptOff() && b.mainThreadKeptOff()).toBe(true);
      await a.close();
      expect(threadCpus(process.pid)).toEqual(all.filter((c) => c !== cpu));
    } finally {
      await a.close();
      await b.close();
    }
    expect(threadCpus(process.pid)).toEqual(mainBefore);
    const child = defaultSpawner('sleep', ['5'], { stdio: 'ignore' });
    expect(cpusOf(child.pid!)).toEqual(mainBefore);
    child.kill();
  });
});

describe.skipIf(!ready)('onnxruntime backend: model.inferenceThread', () => {
  it('load({ thread }) picks the thread over the constructor default, and both compute the same outputs', async () => {
    const ka = knownInput();
    const outs: Record<string, Float32Array> = {};
    for (const [ctor, thread] of [[true, 'main'], [false, 'worker']] as const) {
      const b = new OnnxRuntimeBackend(undefined, { worker: ctor });
      try {
        await b.load({ file, accelerator: 'cpu', threads: 1, thread });
        expect(b.runsIn()).toBe(thread);
        outs[thread] = (await b.run({ images: ka })).output0!.data as Float32Array;
      } finally {
        await b.close();
      }
    }
    expect(outs.main!.length).toBe(6 * 1200);
    expect(outs.main).toEqual(outs.worker);
  });
});

