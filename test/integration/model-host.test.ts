import { mkdtempSync, rmSync } from 'node:fs';
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
    // A derived variant (int8) is a candidate only while faster than its reference: it gets half the time.
    for (const v of demo.variants) {
      const ms = v.reference ? 0.0005 : 0.001;
      recordBench(benchCachePath(state), hardwareFingerprint(profile), v.sha256, { variant: v.name, medianMs: ms, p99Ms: ms, runs: 1, measuredAt: new Date().toISOString(), accelerator: 'cpu' });
    }
    const counting = countingFactory();
    const h = host(state, counting);
    const choice = await h.open();
    expect(choice.passedOver.length).toBe(demo.variants.length);
    expect(choice.passedOver.every((p) => p.reason.startsWith('too slow'))).toBe(true);
    expect(choice.degraded).toMatch(/slower than expected/);
    expect(counting.loaded()).toBe(demo.variants.length + 1);
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
});
