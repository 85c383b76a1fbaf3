import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { decodeModel, encodeModel } from '../../drivers/onnx/index.js';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createBackend, createModelHost, probeHardware } from '../../agent/app/compose.js';
import { modelConfigSchema } from '../../agent/config/sections/model.js';
import { silentLogger } from '../../agent/log.js';
import { loadManifest } from '../../agent/model/manifest.js';
import type { BackendFactory } from '../../agent/model/open-variant.js';
import { benchCachePath, hardwareFingerprint, recordBench } from '../../agent/select/index.js';

const demo = loadManifest(resolve('models/conveyor-demo'));

/** Real ONNX Runtime sessions, counted where they are loaded and closed (independent of the host's own bookkeeping). */
function countingFactory(): { factory: BackendFactory; open: () => number; loaded: () => number } {
  let open = 0;
  let loaded = 0;
  const factory: BackendFactory = async (runtime, log) => {
    const b = await createBackend(runtime, log);
    const load = b.load.bind(b);
    const close = b.close.bind(b);
    let isOpen = false;
    b.load = async (o) => {
      await load(o);
      isOpen = true;
      open++;
      loaded++;
    };
    b.close = async () => {
      if (isOpen) open--;
      isOpen = false;
      await close();
    };
    return b;
  };
  return { factory, open: () => open, loaded: () => loaded };
}

describe('ModelHost on the demo model (real ONNX Runtime)', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  function host(stateDir: string, counting: ReturnType<typeof countingFactory>, settings: Record<string, unknown> = {}) {
    return createModelHost(
      { manifest: demo, settings: modelConfigSchema.parse({ manifest: demo.path, inferenceThread: 'main', ...settings }), stateDir, job: 'live', log: silentLogger },
      { createBackend: counting.factory },
    );
  }

  it('closes every candidate the verification walk passes over as too slow, and everything on close()', async () => {
    const state = mkdtempSync(join(tmpdir(), 'host-'));
    dirs.push(state);
    // A bench cache claiming every variant runs in 1 µs: each real session is "too slow" (over 3x), so the walk
    // tries them all and then runs the best of them. Each candidate's session must be closed when it is passed over.
    const { profile } = await probeHardware('/');
    // (The int8 claims to be a little faster than its fp32 reference: one not faster is never a candidate.)
    for (const v of demo.variants) {
      const ms = v.precision === 'int8' ? 0.0005 : 0.001;
      recordBench(benchCachePath(state), hardwareFingerprint(profile), v.sha256, { variant: v.name, medianMs: ms, p99Ms: ms, runs: 1, measuredAt: new Date().toISOString(), accelerator: 'cpu' });
    }
    const counting = countingFactory();
    const h = host(state, counting);
    const choice = await h.open();
    expect(choice.passedOver.length, JSON.stringify(h.selection?.variants.map((v) => [v.name, v.eligible, v.reason]))).toBe(demo.variants.length);
    expect(choice.passedOver.every((p) => p.reason.startsWith('too slow'))).toBe(true);
    expect(choice.degraded).toMatch(/slower than expected/);
    // Every candidate, the reference opened once to compare the int8's known answer with, and the one running.
    expect(counting.loaded()).toBe(demo.variants.length + 2);
    expect(counting.open()).toBe(1);
    expect(h.openBackends()).toBe(1);
    // The session running really computes: one inference on it.
    const input = choice.opened.input;
    const n = input.shape.reduce((a, b) => a * b, 1);
    const out = await choice.opened.backend.run({ [input.name]: new Float32Array(n) });
    expect(Object.keys(out).length).toBeGreaterThan(0);
    await h.close();
    expect(counting.open()).toBe(0);
    expect(h.openBackends()).toBe(0);
  });

  it('swap and reload release the session they replace; close() leaves none open', async () => {
    const state = mkdtempSync(join(tmpdir(), 'host-'));
    dirs.push(state);
    const counting = countingFactory();
    const h = host(state, counting, { variant: 'student-fp32' });
    const c = await h.open();
    expect(c.opened.variant.name).toBe('student-fp32');
    const { opened, old } = await h.swap('student-int8');
    expect(opened.variant.name).toBe('student-int8');
    expect(counting.open()).toBe(2);
    await h.release(old.backend);
    expect(counting.open()).toBe(1);
    await h.reload();
    // The replaced session closes in the background.
    await new Promise((r) => setTimeout(r, 50));
    expect(counting.open()).toBe(1);
    await h.close();
    expect(counting.open()).toBe(0);
  });

  it('every candidate whose known answer is wrong is closed, and the host reports the first error', async () => {
    const state = mkdtempSync(join(tmpdir(), 'host-'));
    dirs.push(state);
    // A manifest copy whose first-ranked variant expects a different answer (a real wrong-answer rejection).
    const m = loadManifest(resolve('models/conveyor-demo'));
    for (const v of m.variants) {
      if (v.knownAnswer) v.knownAnswer = { ...v.knownAnswer, expect: Object.fromEntries(Object.entries(v.knownAnswer.expect).map(([k, pairs]) => [k, pairs.map(([i, x]) => [i, x + 1000] as [number, number])])) };
    }
    const counting = countingFactory();
    const h = createModelHost({ manifest: m, settings: modelConfigSchema.parse({ manifest: m.path, inferenceThread: 'main' }), stateDir: state, job: 'live', log: silentLogger }, { createBackend: counting.factory });
    await expect(h.open()).rejects.toThrow(/known-answer/);
    expect(counting.loaded()).toBe(m.variants.length);
    expect(counting.open()).toBe(0);
    expect(h.openBackends()).toBe(0);
  });

  it('a variant whose answer disagrees with its reference is rejected with the numbers, closed, and the next one runs', async () => {
    const state = mkdtempSync(join(tmpdir(), 'host-'));
    const dir = mkdtempSync(join(tmpdir(), 'host-model-'));
    dirs.push(state, dir);
    const src = resolve('models/conveyor-demo');
    copyFileSync(join(src, 'student.onnx'), join(dir, 'student.onnx'));
    copyFileSync(join(src, 'ka_input.f32'), join(dir, 'ka_input.f32'));
    // A broken fast variant that runs fine: the demo's int8 graph with every int8 conv weight zeroed (as in
    // variant-floor.test.ts). It has no knownAnswer of its own, so "it ran" would pass it; only the comparison
    // with its reference's answer on the known-answer input can catch it.
    const g = decodeModel(readFileSync(join(src, 'student-int8.onnx')));
    let zeroed = 0;
    for (const t of g.graph.initializer) {
      if (t.dataType === 3 && t.dims.length === 4 && t.rawData?.length) {
        t.rawData = new Uint8Array(t.rawData.length);
        zeroed++;
      }
    }
    expect(zeroed).toBeGreaterThan(3);
    const broken = encodeModel(g);
    writeFileSync(join(dir, 'broken-int8.onnx'), broken);
    const mj = JSON.parse(readFileSync(join(src, 'manifest.json'), 'utf8')) as { variants: Array<Record<string, unknown>> };
    const fp32 = mj.variants.find((v) => v.name === 'student-fp32')!;
    const int8 = mj.variants.find((v) => v.name === 'student-int8')!;
    mj.variants = [
      fp32,
      { name: 'broken-int8', file: 'broken-int8.onnx', runtime: 'onnxruntime', accelerator: 'cpu', precision: 'int8', sha256: createHash('sha256').update(broken).digest('hex'), accuracy: fp32.accuracy, latencyMs: int8.latencyMs },
    ];
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(mj));
    const m = loadManifest(dir);
    const counting = countingFactory();
    const h = createModelHost({ manifest: m, settings: modelConfigSchema.parse({ manifest: m.path, inferenceThread: 'main' }), stateDir: state, job: 'live', log: silentLogger }, { createBackend: counting.factory });
    // Ranked first on its claimed figures...
    expect((await h.choose()).selection.selected).toBe('broken-int8');
    const c = await h.open();
    // ...then rejected at start-up because its answer is not the reference's, and the reference runs instead.
    expect(c.opened.variant.name).toBe('student-fp32');
    expect(c.passedOver).toEqual([
      { variant: 'broken-int8', reason: expect.stringMatching(/^variant broken-int8 disagrees with its reference on the known-answer input: broken-int8 found \d+ detection\(s\) on the known-answer input, student-fp32 [1-9]\d*; \d+ match: agreement [\d.]+ % below 95 %$/) },
    ]);
    expect(c.degraded).toMatch(/wanted broken-int8/);
    // Sessions: the broken candidate, the reference opened once for its answer, the one running; only that one is open.
    expect(counting.loaded()).toBe(3);
    expect(counting.open()).toBe(1);
    expect(h.openBackends()).toBe(1);
    await h.close();
    expect(counting.open()).toBe(0);
  });

  it('a correct int8 variant agrees with its reference on the known-answer input and runs', async () => {
    const state = mkdtempSync(join(tmpdir(), 'host-'));
    dirs.push(state);
    const counting = countingFactory();
    const h = host(state, counting, { variant: 'student-int8' });
    const c = await h.open();
    expect(c.opened.variant.name).toBe('student-int8');
    expect(c.passedOver).toEqual([]);
    await h.close();
    expect(counting.open()).toBe(0);
  });
});
