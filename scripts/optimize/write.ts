import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { fsyncDir, writeSynced } from '../../agent/durable-file.js';
import { basename, join, resolve } from 'node:path';
import { AgentError, messageOf } from '../../agent/errors.js';
import { manifestSchema, type LoadedManifest, type VariantSpec } from '../../agent/model/manifest.js';

export interface NewFile {
  /** File name inside the output folder. */
  name: string;
  bytes: Uint8Array;
}

/**
 * The manifest to write: the original document (as written, not with defaults filled in) plus the new variants.
 * With an output folder other than the model's own, the original variants' files (and known-answer inputs) are
 * carried into it (`carriedFiles`) and named by their base name there: a manifest's files must lie inside its own
 * folder (or an allowed model root), so `detect --model OUT/manifest.json` finds and accepts them.
 */
export function mergedManifest(m: LoadedManifest, outDir: string, added: VariantSpec[], measured?: { deviceKey: string; latencies: Record<string, number> }): Record<string, unknown> {
  const raw = JSON.parse(readFileSync(m.path, 'utf8')) as Record<string, unknown> & { variants: Array<Record<string, unknown>> };
  const out = resolve(outDir);
  const variants = raw.variants.map((v0) => {
    // Latency for every variant: those timed in the same rounds get this device's figure.
    const ms = measured?.latencies[String(v0.name)];
    const v = ms === undefined ? v0 : { ...v0, latencyMs: { ...((v0.latencyMs as Record<string, number> | undefined) ?? {}), [measured!.deviceKey]: ms } };
    if (out === m.dir) return v;
    const ka = v.knownAnswer as { input?: unknown } | undefined;
    return { ...v, file: basename(String(v.file)), ...(ka && typeof ka.input === 'string' ? { knownAnswer: { ...ka, input: basename(ka.input) } } : {}) };
  });
  const doc: Record<string, unknown> = { ...raw, variants: [...variants, ...added] };
  // A labels file stays behind with --out: its labels are written inline instead.
  if (out !== m.dir && typeof doc.labelsFile === 'string') {
    delete doc.labelsFile;
    doc.labels = m.labels;
  }
  const check = manifestSchema.safeParse((doc as Record<string, unknown>).labels === undefined ? { ...doc, labels: m.labels } : doc); // labelsFile: read by the loader
  if (!check.success) {
    throw new AgentError('INTERNAL', `the new manifest does not validate: ${check.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, { fix: 'this is a bug: report it' });
  }
  return doc;
}

/**
 * The original files to copy into an output folder other than the model's own (variant files, known-answer inputs
 * and a labels file), by base name; none when writing in place. Two different files with one base name are refused.
 */
export function carriedFiles(m: LoadedManifest, outDir: string): NewFile[] {
  if (resolve(outDir) === m.dir) return [];
  const byName = new Map<string, string>();
  const add = (rel: string): void => {
    const abs = resolve(m.dir, rel);
    const name = basename(abs);
    const seen = byName.get(name);
    if (seen && seen !== abs) throw new AgentError('USAGE', `${m.path}: ${seen} and ${abs} have the same name; --out cannot hold both`, { fix: 'rename one of them, or optimize in place (without --out)' });
    byName.set(name, abs);
  };
  for (const v of m.variants) {
    add(v.file);
    if (v.knownAnswer) add(v.knownAnswer.input);
  }
  return [...byName].map(([name, abs]) => ({ name, bytes: readFileSync(abs) }));
}

/**
 * Writes the new model files and the manifest so that no reader ever sees a half-written file: everything is
 * written under temporary names in the target folder and fsynced, then the model files are renamed into place
 * and the manifest last (rename is atomic within a filesystem). On any failure the temporary and new files are
 * removed and the original manifest is left as it was.
 */
export function writeAtomically(outDir: string, manifestName: string, manifest: Record<string, unknown>, files: NewFile[], pid = process.pid): string[] {
  const dir = resolve(outDir);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new AgentError('OUTPUT_FAILED', `cannot create ${dir} (${messageOf(err)})`, { fix: 'choose a writable --out folder' });
  }
  const all = [...files, { name: manifestName, bytes: new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`) }];
  const temps = all.map((f) => join(dir, `.${basename(f.name)}.${pid}.tmp`));
  const finals = all.map((f) => join(dir, f.name));
  const renamed: string[] = [];
  try {
    all.forEach((f, i) => writeSynced(temps[i]!, f.bytes));
    fsyncDir(dir);
    temps.forEach((t, i) => {
      renameSync(t, finals[i]!);
      renamed.push(finals[i]!);
    });
    fsyncDir(dir);
  } catch (err) {
    for (const t of temps) rmSync(t, { force: true });
    // New model files already in place but without the manifest naming them are removed too (checkFree made
    // sure they did not exist before). The manifest is renamed last, so it is never among them.
    for (const f of renamed) rmSync(f, { force: true });
    throw new AgentError('OUTPUT_FAILED', `cannot write to ${dir} (${messageOf(err)})`, { fix: 'check free space and permissions of the output folder' });
  }
  return finals;
}

/** Refuses to overwrite existing files or variant names (the caller picks another name or folder). */
export function checkFree(m: LoadedManifest, outDir: string, names: string[], files: string[]): void {
  const dir = resolve(outDir);
  // The new manifest keeps every original variant, with --out too, so a name already there collides either way.
  for (const n of names) {
    if (m.variants.some((v) => v.name === n)) {
      throw new AgentError('USAGE', `model ${m.name} already has a variant "${n}"`, {
        fix: dir === m.dir ? 'remove it from the manifest first, or write to another folder with --out' : `remove it from ${m.path} first (--out copies every existing variant into the new manifest)`,
      });
    }
  }
  if (dir !== m.dir && existsSync(join(dir, basename(m.path)))) {
    throw new AgentError('USAGE', `${join(dir, basename(m.path))} already exists`, { fix: 'choose an empty --out folder' });
  }
  for (const f of files) {
    if (existsSync(join(dir, f))) throw new AgentError('USAGE', `${join(dir, f)} already exists`, { fix: 'remove it or choose another --out folder' });
  }
}
