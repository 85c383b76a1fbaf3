import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadManifest, variantInput, verifyVariantFile } from '../../agent/model/manifest.js';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

function write(dir: string, m: unknown): string {
  const f = join(dir, 'manifest.json');
  writeFileSync(f, JSON.stringify(m));
  return f;
}

const base = {
  schema: 1,
  name: 'm',
  labels: ['a'],
  input: { name: 'in', shape: [1, 3, 240, 320], layout: 'NCHW', color: 'BGR', resize: 'letterbox', normalise: { mean: [1, 2, 3], std: [4, 5, 6] } },
  decoder: { type: 'yolov8' },
  variants: [{ name: 'v', file: 'm.onnx', runtime: 'onnxruntime', accelerator: 'cpu', precision: 'fp32', sha256: 'a'.repeat(64) }],
};

describe('model manifest', () => {
  it('a variant overriding only the input shape keeps the model-level normalisation, colour and resize', () => {
    const dir = mkdtempSync(join(tmpdir(), 'manifest-'));
    const m = loadManifest(write(dir, { ...base, variants: [{ ...base.variants[0], input: { shape: [1, 3, 480, 640] } }] }));
    const inp = variantInput(m, m.variants[0]!);
    expect(inp.shape).toEqual([1, 3, 480, 640]);
    expect(inp.color).toBe('BGR');
    expect(inp.resize).toBe('letterbox');
    expect(inp.normalise).toEqual({ mean: [1, 2, 3], std: [4, 5, 6] });
  });

  it('reports problems with the file, the path and the line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'manifest-'));
    const f = join(dir, 'manifest.yaml');
    writeFileSync(f, 'schema: 1\nname: m\nlabels: [a]\ninput: {name: in, shape: [1,3,2], layout: NCHW}\ndecoder: {type: yolov8}\nvariants: []\n');
    expect(() => loadManifest(f)).toThrow(/manifest\.yaml:4: input\.shape: .*; .*variants/);
  });

  it('finds manifest.json in a folder, and says so when there is none', () => {
    const dir = mkdtempSync(join(tmpdir(), 'manifest-'));
    expect(() => loadManifest(dir)).toThrow(/no model manifest at/);
    write(dir, base);
    expect(loadManifest(dir).name).toBe('m');
  });

  it('checks the variant file against its sha256', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'manifest-'));
    writeFileSync(join(dir, 'm.onnx'), 'model bytes');
    const good = loadManifest(write(dir, { ...base, variants: [{ ...base.variants[0], sha256: sha('model bytes') }] }));
    await expect(verifyVariantFile(good, good.variants[0]!)).resolves.toBe(join(dir, 'm.onnx'));
    const bad = loadManifest(write(dir, base));
    // Both hashes in full (a 12-character prefix can match by chance and cannot be compared with a registry's).
    await expect(verifyVariantFile(bad, bad.variants[0]!)).rejects.toThrow(new RegExp(`has sha256 ${sha('model bytes')}, the manifest says ${bad.variants[0]!.sha256}$`));
  });
});
