import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadManifest } from '../../agent/model/manifest.js';

const demo = resolve(import.meta.dirname, '..', '..', 'models', 'conveyor-demo', 'manifest.json');
const tmp = mkdtempSync(join(tmpdir(), 'labels-file-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function write(name: string, edit: (m: Record<string, unknown>) => void): string {
  const m = JSON.parse(readFileSync(demo, 'utf8')) as Record<string, unknown>;
  edit(m);
  const file = join(tmp, `${name}.json`);
  writeFileSync(file, JSON.stringify(m));
  return file;
}

describe('manifest labelsFile', () => {
  it('reads one label per line, skipping blank and # lines', () => {
    writeFileSync(join(tmp, 'labels.txt'), '# demo\npart\n\ndefect\n');
    const m = loadManifest(write('ok', (x) => { delete x.labels; x.labelsFile = 'labels.txt'; }));
    expect(m.labels).toEqual(['part', 'defect']);
  });
  it('labels and labelsFile together, or a missing file: one line naming it', () => {
    expect(() => loadManifest(write('both', (x) => { x.labelsFile = 'labels.txt'; }))).toThrow(/give labels or labelsFile, not both/);
    expect(() => loadManifest(write('missing', (x) => { delete x.labels; x.labelsFile = 'nope.txt'; }))).toThrow(/labelsFile .*nope\.txt cannot be read \(ENOENT\)/);
  });
});
