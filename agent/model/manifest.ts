import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, delimiter, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { AgentError } from '../errors.js';
import { formatProblem, parseWithLines, problemsFromZod } from '../config/issues.js';
import { manifestSchema, type Manifest, type ManifestInput, type VariantSpec } from './manifest-schema.js';

export * from './manifest-schema.js';

/** A manifest as loaded: validated, with the folder its relative paths are resolved against. */
export interface LoadedManifest extends Manifest {
  /** Absolute path of the manifest file. */
  path: string;
  /** Absolute folder of the manifest. */
  dir: string;
  /**
   * Real folders (symlinks resolved) the manifest's files may lie in: its own folder and the allowed model roots.
   * Every file it names is checked against them before anything is read.
   */
  roots: string[];
}

export interface LoadManifestOptions {
  /** Folders besides the manifest's own where its files may lie (model.allowedRoots). */
  allowedRoots?: readonly string[];
  /** EDGE_AGENT_MODEL_ROOTS (folders separated by ':') adds allowed roots; default process.env. */
  env?: NodeJS.ProcessEnv;
}

/** The allowed model roots: the option's folders and EDGE_AGENT_MODEL_ROOTS. */
export function allowedModelRoots(o: LoadManifestOptions = {}): string[] {
  const env = (o.env ?? process.env).EDGE_AGENT_MODEL_ROOTS ?? '';
  return [...(o.allowedRoots ?? []), ...env.split(delimiter).filter(Boolean)].map((r) => resolve(r));
}

/** The real path of `p` (symlinks resolved); for a path that does not exist, its nearest existing ancestor's. */
function realPath(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    const parent = dirname(p);
    return parent === p ? p : join(realPath(parent), basename(p));
  }
}

function inside(root: string, file: string): boolean {
  const rel = relative(root, file);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

/**
 * A file named in a manifest (`field`, e.g. "variants[1].file"), resolved and confined: its real path (symlinks
 * resolved) must lie inside the manifest's folder or an allowed model root, else a one-line error naming the
 * manifest and the field (exit 78), before anything is read or hashed.
 */
export function confinedPath(m: Pick<LoadedManifest, 'path' | 'dir' | 'roots'>, rel: string, field: string): string {
  const file = isAbsolute(rel) ? rel : resolve(m.dir, rel);
  const real = realPath(file);
  if (m.roots.some((r) => inside(r, real))) return file;
  throw new AgentError('MANIFEST_INVALID', `${m.path}: ${field} "${rel}" resolves to ${real}, outside the manifest's folder ${m.roots[0]}${m.roots.length > 1 ? ` and the allowed model roots (${m.roots.slice(1).join(', ')})` : ''}`, {
    fix: `put the file in the manifest's folder, or allow its folder with model.allowedRoots or EDGE_AGENT_MODEL_ROOTS=${dirname(real)}`,
  });
}

/**
 * Loads and validates a manifest (JSON or YAML). `pathOrDir` may name the file or its folder
 * (then manifest.json, manifest.yaml or manifest.yml is used).
 */
export function loadManifest(pathOrDir: string, o: LoadManifestOptions = {}): LoadedManifest {
  const file = findManifestFile(pathOrDir);
  const dir = dirname(file);
  const roots = [realPath(dir), ...allowedModelRoots(o).map(realPath)];
  const where = { path: file, dir, roots };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new AgentError('MODEL_NOT_FOUND', `cannot read model manifest ${file}`, { fix: 'check the model path in the config (model.manifest) or --model', cause: err });
  }
  const parsed = parseWithLines(text);
  if (parsed.syntax.length) {
    throw new AgentError('MANIFEST_INVALID', formatProblem(file, parsed.syntax[0]!), { fix: 'fix the YAML/JSON syntax' });
  }
  const res = manifestSchema.safeParse(withLabelsFile(file, parsed.value, where));
  if (!res.success) {
    const problems = problemsFromZod(res.error, parsed.locate);
    throw new AgentError('MANIFEST_INVALID', problems.map((p) => formatProblem(file, p)).join('; '), {
      fix: 'correct the manifest (fields and defaults: docs/models.md)',
    });
  }
  // Every file the manifest names lies inside its folder or an allowed root (checked before any is read).
  res.data.variants.forEach((v, i) => {
    confinedPath(where, v.file, `variants[${i}].file`);
    if (v.knownAnswer) confinedPath(where, v.knownAnswer.input, `variants[${i}].knownAnswer.input`);
  });
  return { ...res.data, ...where };
}

/** Fills `labels` from `labelsFile` (one label per line) before validation. */
function withLabelsFile(file: string, value: unknown, where: Pick<LoadedManifest, 'path' | 'dir' | 'roots'>): unknown {
  if (typeof value !== 'object' || value === null || !('labelsFile' in value)) return value;
  const v = value as Record<string, unknown>;
  if (typeof v.labelsFile !== 'string') return value; // the schema reports the type
  if (v.labels !== undefined) {
    throw new AgentError('MANIFEST_INVALID', `${file}: give labels or labelsFile, not both`, { fix: 'remove one of them' });
  }
  const path = confinedPath(where, v.labelsFile, 'labelsFile');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new AgentError('MANIFEST_INVALID', `${file}: labelsFile ${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { fix: 'put the labels file next to the manifest, one label per line', cause: err });
  }
  const labels = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  return { ...v, labels };
}

function findManifestFile(pathOrDir: string): string {
  const abs = resolve(pathOrDir);
  for (const name of ['', 'manifest.json', 'manifest.yaml', 'manifest.yml']) {
    const candidate = name ? resolve(abs, name) : abs;
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  throw new AgentError('MODEL_NOT_FOUND', `no model manifest at ${abs}`, {
    fix: 'give the path of a manifest.json/manifest.yaml or of the folder holding one',
  });
}

/** Absolute path of a file named in a manifest. */
export function manifestPath(m: LoadedManifest, rel: string): string {
  return isAbsolute(rel) ? rel : resolve(m.dir, rel);
}

/** The input contract of one variant (model-level input with the variant's overrides). */
export function variantInput(m: Manifest, v: VariantSpec): ManifestInput {
  return { ...m.input, ...(v.input ?? {}) } as ManifestInput;
}

export function findVariant(m: LoadedManifest, name: string): VariantSpec {
  const v = m.variants.find((x) => x.name === name);
  if (!v) {
    throw new AgentError('USAGE', `model ${m.name} has no variant "${name}"`, {
      fix: `use one of: ${m.variants.map((x) => x.name).join(', ')}`,
    });
  }
  return v;
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  await new Promise<void>((res, rej) => {
    createReadStream(file)
      .on('data', (c) => h.update(c))
      .on('end', () => res())
      .on('error', rej);
  });
  return h.digest('hex');
}

/** Checks that a variant's file exists and matches its sha256; throws a one-line AgentError otherwise. */
export async function verifyVariantFile(m: LoadedManifest, v: VariantSpec): Promise<string> {
  // Checked again here: a symlink may have been changed since the manifest was loaded.
  const file = m.roots ? confinedPath(m, v.file, `variants[${m.variants.indexOf(v)}].file`) : manifestPath(m, v.file);
  let digest: string;
  try {
    digest = await sha256File(file);
  } catch (err) {
    throw new AgentError('MODEL_NOT_FOUND', `model file ${file} (variant ${v.name}) cannot be read`, {
      fix: 'restore the file or correct variants[].file in the manifest',
      cause: err,
    });
  }
  if (digest !== v.sha256) {
    throw new AgentError('MODEL_CHECKSUM', `model file ${file} (variant ${v.name}) has sha256 ${digest}, the manifest says ${v.sha256}`, {
      fix: 'the file is corrupt or was replaced: restore it, or update sha256 in the manifest if the change is intended',
    });
  }
  return file;
}
