import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkKnownAnswer } from '../../agent/model/known-answer.js';
import type { LoadedManifest, VariantSpec } from '../../agent/model/manifest.js';
import type { InferenceBackend, InputData } from '../../agent/types.js';

/** A backend that doubles its 4 inputs, on a fake clock where each call takes the next of `durations` ms. */
function fakeBackend(durations: number[], clock: { t: number }): InferenceBackend & { calls: number } {
  const b = {
    type: 'fake',
    calls: 0,
    load: async () => undefined,
    inputs: () => [{ name: 'x', dtype: 'float32' as const, shape: [1, 4] }],
    outputs: () => [{ name: 'y', dtype: 'float32' as const, shape: [1, 4] }],
    accelerator: () => 'cpu' as const,
    close: async () => undefined,
    run: async (inputs: Record<string, InputData>) => {
      clock.t += durations[b.calls++] ?? 1;
      return { y: { dims: [1, 4], data: Float32Array.from(inputs.x as Float32Array, (v) => v * 2) } };
    },
  };
  return b as unknown as InferenceBackend & { calls: number };
}

describe('known-answer check', () => {
  const dir = mkdtempSync(join(tmpdir(), 'edge-agent-ka-'));
  writeFileSync(join(dir, 'in.f32'), Buffer.from(Float32Array.of(1, 2, 3, 4).buffer));
  const m = { dir, path: join(dir, 'manifest.json') } as unknown as LoadedManifest;
  const v = { name: 'v', knownAnswer: { input: 'in.f32', expect: { y: [[0, 2], [3, 8]] }, tolerance: 0.001 } } as unknown as VariantSpec;

  it('reports the fastest of three timed runs after a warm-up, so one slow call on a busy board does not count', async () => {
    const clock = { t: 0 };
    const b = fakeBackend([50, 30, 4, 6], clock);
    const r = await checkKnownAnswer(m, v, b, () => clock.t);
    expect(b.calls).toBe(4);
    expect(r).toMatchObject({ ok: true, maxError: 0, latencyMs: 4 });
  });

  it('a recurrent backend starts every run from a cleared state and is left cleared', async () => {
    const clock = { t: 0 };
    const calls: string[] = [];
    const b = fakeBackend([], clock);
    const run = b.run.bind(b);
    const rec = Object.assign(b, {
      reset: () => void calls.push('reset'),
      run: async (x: Record<string, InputData>) => {
        calls.push('run');
        return run(x);
      },
    });
    expect((await checkKnownAnswer(m, v, rec, () => clock.t)).ok).toBe(true);
    expect(calls).toEqual(['reset', 'run', 'reset', 'run', 'reset', 'run', 'reset', 'run', 'reset']);
  });

  it('fails with the largest difference when an output is off', async () => {
    const clock = { t: 0 };
    const wrong = { ...v, knownAnswer: { ...v.knownAnswer!, expect: { y: [[0, 2], [3, 7.5]] } } } as VariantSpec;
    const r = await checkKnownAnswer(m, wrong, fakeBackend([], clock), () => clock.t);
    expect(r.ok).toBe(false);
    expect(r.reason).toBe('outputs differ from the known answer by 0.500 (tolerance 0.001)');
  });
});
