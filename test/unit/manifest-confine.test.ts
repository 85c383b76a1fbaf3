/**
 * Model files confined (issue 22, finding 7): every file a manifest names (variants[].file, knownAnswer.input,
 * labelsFile) must resolve, symlinks included, inside the manifest's folder or an allowed model root
 * (model.allowedRoots / EDGE_AGENT_MODEL_ROOTS); otherwise one line naming the manifest and the field, exit 78,
 * and nothing is read or hashed (proved with a FIFO as the target: opening it for reading would block forever).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAgentError } from '../../agent/errors.js';
import { loadManifest, verifyVariantFile } from '../../agent/model/manifest.js';
import { runCli, repoRoot } from '../helpers/cli.js';
import { existsSync } from 'node:fs';

const built = existsSync(join(repoRoot, 'dist', 'agent', 'cli', 'main.js'));
let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'confine-'));
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

const SHA = 'a'.repeat(64);
function manifestIn(dir: string, variant: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  mkdirSync(dir, { recursive: true });
  const m = {
    schema: 1,
    name: 'm',
    labels: ['a'],
    input: { name: 'images', shape: [1, 3, 8, 8], layout: 'NCHW', dtype: 'float32' },
    decoder: { type: 'yolov8', params: { output: 'output0' } },
    variants: [{ name: 'v', runtime: 'onnxruntime', accelerator: 'cpu', precision: 'fp32', sha256: SHA, ...variant }],
    ...extra,
  };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
  return join(dir, 'manifest.json');
}

function refusal(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    if (isAgentError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('not refused');
}

describe('manifest files stay inside the manifest folder or an allowed root', () => {
  it('refuses ../../etc/passwd with the manifest path and the field', () => {
    const path = manifestIn(join(tmp, 'a', 'b', 'model'), { file: '../../etc/passwd' });
    const r = refusal(() => loadManifest(path, { env: {} }));
    expect(r.code).toBe('MANIFEST_INVALID');
    expect(r.message).toBe(`${path}: variants[0].file "../../etc/passwd" resolves to ${join(tmp, 'a', 'etc', 'passwd')}, outside the manifest's folder ${join(tmp, 'a', 'b', 'model')}`);
    const abs = manifestIn(join(tmp, 'abs'), { file: '/etc/passwd' });
    expect(refusal(() => loadManifest(abs, { env: {} })).message).toMatch(/variants\[0\]\.file "\/etc\/passwd" resolves to \/etc\/passwd, outside/);
  });

  it('resolves symlinks: a link inside the folder to a file outside is refused, a link to an allowed root is accepted', () => {
    const dir = join(tmp, 'model');
    const outside = join(tmp, 'shared');
    mkdirSync(outside);
    writeFileSync(join(outside, 'w.onnx'), 'x');
    const path = manifestIn(dir, { file: 'w.onnx' });
    symlinkSync(join(outside, 'w.onnx'), join(dir, 'w.onnx'));
    expect(refusal(() => loadManifest(path, { env: {} })).message).toContain(`variants[0].file "w.onnx" resolves to ${join(tmp, 'shared', 'w.onnx')}, outside`);
    expect(loadManifest(path, { env: {}, allowedRoots: [outside] }).variants[0]!.file).toBe('w.onnx');
    expect(loadManifest(path, { env: { EDGE_AGENT_MODEL_ROOTS: `/nonexistent:${outside}` } }).roots).toContain(outside);
    // A folder link that escapes is caught too.
    const dir2 = join(tmp, 'model2');
    const p2 = manifestIn(dir2, { file: 'sub/w.onnx' });
    symlinkSync(outside, join(dir2, 'sub'));
    expect(refusal(() => loadManifest(p2, { env: {} })).message).toContain('variants[0].file "sub/w.onnx"');
  });

  it('confines knownAnswer.input and labelsFile as well', () => {
    writeFileSync(join(tmp, 'labels.txt'), 'a\n');
    const ka = manifestIn(join(tmp, 'ka'), { file: 'm.onnx', knownAnswer: { input: '../in.f32', expect: { output0: [[0, 1]] } } });
    expect(refusal(() => loadManifest(ka, { env: {} })).message).toContain('variants[0].knownAnswer.input "../in.f32"');
    const lf = join(tmp, 'lf');
    mkdirSync(lf);
    writeFileSync(join(lf, 'manifest.json'), JSON.stringify({ ...JSON.parse(`{"schema":1,"name":"m","input":{"name":"images","shape":[1,3,8,8],"layout":"NCHW","dtype":"float32"},"decoder":{"type":"yolov8","params":{"output":"output0"}},"variants":[{"name":"v","file":"m.onnx","runtime":"onnxruntime","accelerator":"cpu","precision":"fp32","sha256":"${SHA}"}]}`), labelsFile: '../labels.txt' }));
    expect(refusal(() => loadManifest(lf, { env: {} })).message).toContain('labelsFile "../labels.txt"');
  });

  it('a file in the folder is accepted, and a link swapped afterwards is refused before hashing', async () => {
    const dir = join(tmp, 'ok');
    const path = manifestIn(dir, { file: 'm.onnx' });
    writeFileSync(join(dir, 'm.onnx'), 'x');
    const m = loadManifest(path, { env: {} });
    rmSync(join(dir, 'm.onnx'));
    symlinkSync('/etc/passwd', join(dir, 'm.onnx'));
    await expect(verifyVariantFile(m, m.variants[0]!)).rejects.toThrow(/variants\[0\]\.file "m\.onnx" resolves to \/etc\/passwd, outside/);
  });

  it.skipIf(!built)('the CLI says it in one line, exit 78, and never opens the file (a FIFO outside would block a reader)', async () => {
    const outside = join(tmp, 'outside');
    mkdirSync(outside);
    execFileSync('mkfifo', [join(outside, 'model.onnx')]);
    const dir = join(tmp, 'model');
    const path = manifestIn(dir, { file: '../outside/model.onnx' });
    writeFileSync(join(tmp, 'img.ppm'), Buffer.concat([Buffer.from('P6\n8 8\n255\n'), Buffer.alloc(192)]));
    const r = await runCli(['detect', '--model', dir, '--image', join(tmp, 'img.ppm')], { timeoutMs: 30_000, env: { EDGE_AGENT_MODEL_ROOTS: '' } });
    expect(r.signal).toBeNull();
    expect(r.code).toBe(78);
    const text = r.stderr.split('\n').filter((l) => l.trim() && !l.startsWith('{'));
    expect(text).toHaveLength(1);
    expect(text[0]).toContain(`${path}: variants[0].file "../outside/model.onnx" resolves to ${join(outside, 'model.onnx')}, outside the manifest's folder`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stderr).not.toMatch(/[0-9a-f]{12}/);
  });
});
