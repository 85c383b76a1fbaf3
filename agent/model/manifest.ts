import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
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
}

/**
 * Loads and validates a manifest (JSON or YAML). `pathOrDir` may name the file or its folder
 * (then manifest.json, manifest.yaml or manifest.yml is used).
 */
export function loadManifest(pathOrDir: string): LoadedManifest {
  const file = findManifestFile(pathOrDir);
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
  const res = manifestSchema.safeParse(withLabelsFile(file, parsed.value));
  if (!res.success) {
    const problems = problemsFromZod(res.error, parsed.locate);
    throw new AgentError('MANIFEST_INVALID', problems.map((p) => formatProblem(file, p)).join('; '), {
      fix: 'correct the manifest (fields and defaults: docs/models.md)',
    });
  }
  return { ...res.data, path: file, dir: dirname(file) };
}

/** Fills `labels` from `labelsFile` (one label per line) before validation. */
function withLabelsFile(file: string, value: unknown): unknown {
  if (typeof value !== 'object' || value === null || !('labelsFile' in value)) return value;
  const v = value as Record<string, unknown>;
  if (typeof v.labelsFile !== 'string') return value; // the schema reports the type
  if (v.labels !== undefined) {
    throw new AgentError('MANIFEST_INVALID', `${file}: give labels or labelsFile, not both`, { fix: 'remove one of them' });
  }
  const path = isAbsolute(v.labelsFile) ? v.labelsFile : resolve(dirname(file), v.labelsFile);
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
  const file = manifestPath(m, v.file);
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
