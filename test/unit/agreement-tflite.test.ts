import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { loadManifest } from '../../agent/model/manifest.js';
import { benchAgreements } from '../../scripts/optimize/agreement-bench.js';
import { measureAgreement } from '../../scripts/optimize/measure-agreement.js';
import { lookupAgreement, readBenchCache, benchCachePath } from '../../agent/select/bench-cache.js';

vi.setConfig({ testTimeout: 120_000 });

/**
 * Agreement for TFLite variants: the real BlazeFace short-range .tflite (../shared) run through the backend registry
 * (TFLite backend, CPU) on real face pictures. A variant that is the same file fed the same way agrees fully; one
 * fed raw 0..255 pixels instead of the model's -1..1 (a wrong normalise, as a careless conversion would give) does
 * not, and is reported below the floor.
 */
const repo = resolve(import.meta.dirname, '..', '..');
const shared = resolve(repo, '..', 'shared', 'models');
const haveShared = existsSync(join(shared, 'mediapipe-blazeface', 'face_detection_short_range.tflite'));

function setup(): { manifestFile: string; frames: string } {
  const tmp = mkdtempSync(join(tmpdir(), 'agreement-tflite-'));
  const frames = join(tmp, 'frames');
  mkdirSync(frames);
  for (const f of ['face.jpg', 'grace_hopper.bmp', 'ultraface_2.jpg']) copyFileSync(join(shared, 'test-images', f), join(frames, f));
  const m = JSON.parse(readFileSync(join(repo, 'test', 'fixtures', 'models', 'blazeface-short', 'manifest.json'), 'utf8')) as { variants: Array<Record<string, unknown>> };
  const ref = m.variants[0]!;
  ref.file = join(shared, 'mediapipe-blazeface', 'face_detection_short_range.tflite');
  m.variants = [
    ref,
    { ...ref, name: 'copy-cpu', precision: 'fp16', reference: 'float32-cpu' },
    { ...ref, name: 'raw-pixels-cpu', precision: 'fp16', reference: 'float32-cpu', input: { normalise: { mean: [0, 0, 0], std: [1, 1, 1] } } },
  ];
  const manifestFile = join(tmp, 'manifest.json');
  writeFileSync(manifestFile, JSON.stringify(m));
  return { manifestFile, frames };
}

describe.skipIf(!haveShared)(`agreement of TFLite variants${haveShared ? '' : ' (skipped: ../shared/models absent)'}`, () => {
  it('runs TFLite variants and their TFLite reference through the backend registry on real pictures', async () => {
    const { manifestFile, frames } = setup();
    const m = loadManifest(manifestFile, { allowedRoots: [shared] });
    const same = await measureAgreement(m, m.variants[1]!, { frames: { dir: frames } });
    expect(same.reference).toBe('float32-cpu');
    expect(same.frames).toBe(3);
    // The reference finds the faces (at least one per picture), and the same model fed the same way finds them all.
    expect(same.detections).toBeGreaterThanOrEqual(3);
    expect(same.value).toBe(1);
    expect(same.meanScoreShift).toBe(0);

    const raw = await measureAgreement(m, m.variants[2]!, { frames: { dir: frames } });
    expect(raw.detections).toBe(same.detections);
    expect(raw.value).toBeLessThan(0.95);
  });

  it('bench --frames measures and caches them instead of skipping non-ONNX variants', async () => {
    const { manifestFile, frames } = setup();
    const m = loadManifest(manifestFile, { allowedRoots: [shared] });
    const stateDir = mkdtempSync(join(tmpdir(), 'agreement-tflite-state-'));
    const rows = await benchAgreements(m, { frames: { dir: frames }, stateDir, fingerprint: 'test-fp' });
    expect(rows.map((r) => r.variant)).toEqual(['copy-cpu', 'raw-pixels-cpu']);
    expect(rows[0]!.agreement!.value).toBe(1);
    expect(rows[0]!.note).toBeUndefined();
    expect(rows[1]!.note).toMatch(/^never selected: raw-pixels-cpu agrees [\d.]+ % with float32-cpu on 3 frame\(s\)/);
    const cache = readBenchCache(benchCachePath(stateDir));
    const sha = m.variants[0]!.sha256;
    // Both variants share the reference's file here, so the cache holds the last one measured for that file.
    expect(lookupAgreement(cache, 'test-fp', sha, sha)?.variant).toBe('raw-pixels-cpu');
  });
});
