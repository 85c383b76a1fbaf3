import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sh, type Ran } from '../helpers/sh.js';

/** `edge-agent detect` as a user runs it: the built CLI (npm run build first), real ffmpeg, real runtimes. */
const repo = resolve(__dirname, '..', '..');
const shared = resolve(repo, '..', 'shared', 'models');
const images = resolve(shared, 'test-images');
const models = resolve(repo, 'test', 'fixtures', 'models');
const haveShared = existsSync(shared);
const haveDist = existsSync(resolve(repo, 'dist', 'agent', 'cli', 'commands', 'detect.js'));
const tmp = mkdtempSync(join(tmpdir(), 'detect-cli-'));

// The fixture manifests name files in ../shared/models: that folder is allowed explicitly as a model root.
function cli(...args: string[]): Promise<Ran> {
  return sh(process.execPath, [resolve(repo, 'bin', 'edge-agent.js'), 'detect', ...args], { env: { EDGE_AGENT_EDGETPU_LIB: '', EDGE_AGENT_MODEL_ROOTS: shared } });
}

/** A copy of a fixture manifest with changes, whose variant files point at the shared models by absolute path. */
function manifestVariant(name: string, from: string, change: (m: Record<string, any>) => void): string {
  const m = JSON.parse(readFileSync(join(models, from, 'manifest.json'), 'utf8'));
  for (const v of m.variants) v.file = resolve(models, from, v.file);
  change(m);
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
  return dir;
}

const oneLine = (r: { stderr: string }): string => {
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^edge-agent: /);
  return lines[0]!;
};

describe.skipIf(!haveShared || !haveDist)(`edge-agent detect${haveShared ? '' : ' (skipped: ../shared absent)'}${haveDist ? '' : ' (skipped: run npm run build)'}`, () => {
  it('--json prints detections with boxes in source pixels, model, variant, accelerator and timings', async () => {
    const r = await cli('--model', join(models, 'ultraface'), '--image', join(images, 'grace_hopper.bmp'), '--json');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.model).toBe('ultraface');
    expect(out.variant).toBe('rfb-320');
    expect(out.accelerator).toBe('cpu');
    expect(out.detections).toHaveLength(1);
    expect(out.detections[0].label).toBe('face');
    expect(out.detections[0].score).toBeGreaterThan(0.99);
    [172, 121, 357, 334].forEach((v, i) => expect(Math.abs(out.detections[0].box[i] - v)).toBeLessThanOrEqual(3));
    expect(Object.keys(out.timingsMs)).toEqual(['read', 'preprocess', 'inference', 'decode', 'total']);
  });

  it('--threshold lowers the cut and text output lists one line per detection', async () => {
    const r = await cli('--model', join(models, 'coral-traffic-lstm'), '--image', join(images, 'coral_traffic_0001.bmp'), '--threshold', '0.35');
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^coral-traffic-lstm\/uint8-cpu on cpu: 2 detections in .*coral_traffic_0001\.bmp \(256x256\)$/);
    expect(lines[1]).toMatch(/^ {2}pickup_suv_van +0\.41\d {2}\[\d+, \d+, \d+, \d+\]$/);
    expect(lines[2]).toMatch(/^ {2}sedan +0\.39\d/);
  });

  it('--out writes a PNG at the source size with the boxes drawn', async () => {
    const out = join(tmp, 'annotated.png');
    const r = await cli('--model', join(models, 'nanodet-m'), '--image', join(images, 'yolox_dog.jpg'), '--out', out);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`wrote ${out}`);
    const png = readFileSync(out);
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([768, 576]);
    // Decoded back, the picture differs from the source only where boxes and labels were drawn.
    const raw = (f: string): Buffer => spawnSync('ffmpeg', ['-v', 'error', '-i', f, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], { maxBuffer: 1 << 24 }).stdout;
    const a = raw(out);
    const b = raw(join(images, 'yolox_dog.jpg'));
    let changed = 0;
    for (let i = 0; i < a.length; i += 3) if (a[i] !== b[i] || a[i + 1] !== b[i + 1] || a[i + 2] !== b[i + 2]) changed++;
    expect(changed / (768 * 576)).toBeGreaterThan(0.01);
    expect(changed / (768 * 576)).toBeLessThan(0.2);
  });

  it('bad input: one line, the right exit status', async () => {
    const notImage = join(tmp, 'notes.jpg');
    writeFileSync(notImage, 'not a picture\n');
    const e1 = await cli('--model', join(models, 'nanodet-m'), '--image', join(tmp, 'missing.jpg'));
    expect(e1.status).toBe(66);
    expect(oneLine(e1)).toContain('missing.jpg does not exist');
    const e2 = await cli('--model', join(models, 'nanodet-m'), '--image', notImage);
    expect(e2.status).toBe(65);
    expect(oneLine(e2)).toMatch(/notes\.jpg is not a readable image .*: give a JPEG, PNG or BMP file$/);
    const e3 = await cli('--model', join(models, 'nanodet-m'), '--image', notImage, '--variant', 'gpu');
    expect(e3.status).toBe(64);
    expect(oneLine(e3)).toBe('edge-agent: model nanodet-m has no variant "gpu": use one of: fp32-cpu');
    const e4 = await cli('--model', join(models, 'nanodet-m'), '--image', notImage, '--threshold', '2');
    expect(e4.status).toBe(64);
    oneLine(e4);
  });

  it('a truncated model file (with a matching sha256): MODEL_INVALID in one line', async () => {
    const bytes = readFileSync(join(shared, 'mediapipe-blazeface', 'face_detection_short_range.tflite')).subarray(0, 100_000);
    const dir = manifestVariant('truncated', 'blazeface-short', (m) => {
      // In the manifest's own folder (model files are confined to it or an allowed root).
      m.variants[0].file = 'truncated.tflite';
      m.variants[0].sha256 = createHash('sha256').update(bytes).digest('hex');
    });
    writeFileSync(join(dir, 'truncated.tflite'), bytes);
    const r = await cli('--model', dir, '--image', join(images, 'face.jpg'));
    expect(r.status).toBe(65);
    expect(oneLine(r)).toMatch(/truncated\.tflite is not a valid TFLite model \(The model is not a valid Flatbuffer buffer; truncated or corrupt\?\)/);
  });

  it('tensors that do not match the manifest: MODEL_MISMATCH naming the field', async () => {
    const shape = manifestVariant('shape', 'blazeface-short', (m) => (m.input.shape = [1, 192, 192, 3]));
    const r1 = await cli('--model', shape, '--image', join(images, 'face.jpg'));
    expect(r1.status).toBe(65);
    expect(oneLine(r1)).toMatch(/input "input" is \[1,128,128,3\], the manifest says \[1,192,192,3\]: correct input.shape in the manifest$/);
    const out = manifestVariant('outname', 'nanodet-m', (m) => (m.decoder.params.heads[0].scores = 'cls_pred_stride_4'));
    const r2 = await cli('--model', out, '--image', join(images, 'pets.jpg'));
    expect(r2.status).toBe(65);
    expect(oneLine(r2)).toMatch(/gfl decoder: the model has no output "cls_pred_stride_4" \(decoder.params.heads\[\].scores\)/);
    const labels = manifestVariant('labels', 'nanodet-m', (m) => m.labels.pop());
    const r3 = await cli('--model', labels, '--image', join(images, 'pets.jpg'));
    expect(r3.status).toBe(65);
    expect(oneLine(r3)).toMatch(/output cls_pred_stride_8 has shape \[1,1600,80\], expected \[1, 1600, 79\]/);
  });

  it('an Edge TPU variant on a machine without a Coral: BACKEND_UNAVAILABLE with the install fix', async () => {
    const dir = manifestVariant('edgetpu', 'blazeface-short', (m) => (m.variants[0].accelerator = 'edgetpu'));
    const r = await cli('--model', dir, '--image', join(images, 'face.jpg'), '--variant', 'float32-cpu');
    expect(r.status).toBe(69);
    expect(oneLine(r)).toMatch(/Edge TPU runtime libedgetpu\.so\.1 cannot be loaded .*sudo apt-get install libedgetpu1-std/);
    const auto = await cli('--model', dir, '--image', join(images, 'face.jpg'));
    expect(auto.status).toBe(69);
    expect(oneLine(auto)).toMatch(/no variant of model blazeface-short can run here: .*float32-cpu: needs edgetpu: no Edge TPU found/);
  });
});
