import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AgentError, isAgentError, messageOf } from '../errors.js';
import { loadManifest, manifestPath, verifyVariantFile } from '../model/manifest.js';
import { configSchema, type AgentConfig } from './schema.js';
import { formatPath, formatProblem, parseWithLines, problemsFromZod, type Problem } from './issues.js';

export interface LoadedConfig {
  config: AgentConfig;
  /** Absolute path of the file, or undefined for a built-in config. */
  path: string | undefined;
  /** Folder relative paths in the config are resolved against. */
  baseDir: string;
}

export interface CheckResult {
  ok: boolean;
  problems: Problem[];
  config?: AgentConfig;
}

type Locate = (path: ReadonlyArray<PropertyKey>) => number | undefined;

/**
 * Limits that keep a config from exhausting the device: a real config is a few KB with a few rules. A larger
 * file is refused before it is read (a 50 MB file would take ~1.7 GB to parse); aliases are capped in
 * ./issues.ts (MAX_ALIAS_COUNT).
 */
export const MAX_CONFIG_BYTES = 1024 * 1024;
export const MAX_RULES = 256;

/** Validates config text; returns every problem (syntax, schema, cross-field) with its path and line. */
export function checkConfigText(text: string): CheckResult {
  return analyse(text).result;
}

function analyse(text: string): { result: CheckResult; raw: unknown; locate: Locate } {
  const none: Locate = () => undefined;
  if (text.length > MAX_CONFIG_BYTES) {
    return { result: { ok: false, problems: [{ path: '(file)', message: `config is ${mb(text.length)}; the limit is ${mb(MAX_CONFIG_BYTES)} (a config is a few KB)` }] }, raw: undefined, locate: none };
  }
  const parsed = parseWithLines(text);
  if (parsed.syntax.length) return { result: { ok: false, problems: parsed.syntax }, raw: undefined, locate: parsed.locate };
  const raw = parsed.value ?? {};
  const rules = (raw as { rules?: unknown }).rules;
  if (Array.isArray(rules) && rules.length > MAX_RULES) {
    return { result: { ok: false, problems: [{ path: 'rules', line: parsed.locate(['rules']), message: `${rules.length} rules; the limit is ${MAX_RULES}` }] }, raw: undefined, locate: parsed.locate };
  }
  const res = configSchema.safeParse(raw);
  if (res.success) return { result: { ok: true, problems: [], config: res.data }, raw, locate: parsed.locate };
  const problems = problemsFromZod(res.error, parsed.locate, (path) => valueAt(raw, path));
  problems.push(...crossFieldProblems(raw, res.error.issues, parsed.locate));
  return { result: { ok: false, problems: byLine(problems) }, raw, locate: parsed.locate };
}

/**
 * zod runs the schema's cross-field checks (rules naming outputs, pulses longer than maxOnMs, two outputs
 * on one line) only when everything else parsed. So that one typo elsewhere does not hide them, re-check
 * with the broken sections replaced by neutral stand-ins, and keep only the rules/outputs findings.
 */
function crossFieldProblems(raw: unknown, issues: ReadonlyArray<{ path: PropertyKey[]; code: string; keys?: string[] }>, locate: Locate): Problem[] {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return [];
  const broken = new Set<string>();
  for (const iss of issues) {
    if (iss.path.length === 0 && iss.code === 'unrecognized_keys') iss.keys?.forEach((k) => broken.add(k));
    else if (iss.path.length > 0) broken.add(String(iss.path[0]));
    else return [];
  }
  if (broken.has('rules') || broken.has('outputs')) return [];
  const standIns: Record<string, unknown> = { source: { type: 'v4l2', device: '/dev/video0' }, model: { manifest: 'model' } };
  const patched: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
  for (const key of broken) {
    if (key in standIns) patched[key] = standIns[key];
    else delete patched[key];
  }
  const again = configSchema.safeParse(patched);
  if (again.success) return [];
  const cross = again.error.issues.filter((i) => i.code === 'custom' && (i.path[0] === 'rules' || i.path[0] === 'outputs'));
  const known = new Set(issues.map((i) => i.path.join('.')));
  return problemsFromZod({ issues: cross.filter((i) => !known.has(i.path.join('.'))) } as never, locate);
}

function valueAt(raw: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  return path.reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<PropertyKey, unknown>)[k] : undefined), raw);
}

function byLine(problems: Problem[]): Problem[] {
  return problems
    .map((p, i) => ({ p, i }))
    .sort((a, b) => (a.p.line ?? Infinity) - (b.p.line ?? Infinity) || a.i - b.i)
    .map((x) => x.p);
}

/**
 * Everything `check-config` checks: the text (syntax, schema, cross-field) and the files it names (model
 * manifest and its variant files with their sha256, video file, image folder, MQTT password and TLS files),
 * relative paths resolved against the config's folder. Throws CONFIG_NOT_FOUND if the file cannot be read.
 */
export async function checkConfigFile(file: string): Promise<CheckResult & { path: string }> {
  const abs = resolve(file);
  const text = readConfigText(abs, file);
  const { result, raw, locate } = analyse(text);
  if (raw === undefined) return { ...result, path: abs };
  const fileProblems = await referencedFileProblems(raw, dirname(abs), locate);
  if (!fileProblems.length) return { ...result, path: abs };
  return { ok: false, problems: byLine([...result.problems, ...fileProblems]), config: undefined, path: abs };
}

function mb(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : `${Math.ceil(bytes / 1024)} KB`;
}

/** Refuses a file over MAX_CONFIG_BYTES by its size, before reading a byte of it. */
function checkSize(abs: string): void {
  let size: number;
  try {
    const st = statSync(abs);
    if (!st.isFile()) return; // read errors (folder, missing) are reported by the reader
    size = st.size;
  } catch {
    return;
  }
  if (size > MAX_CONFIG_BYTES) {
    throw new AgentError('CONFIG_INVALID', `config file ${abs} is ${mb(size)}; the limit is ${mb(MAX_CONFIG_BYTES)}`, { fix: 'a config is a few KB: check that --config names the config file' });
  }
}

function readConfigText(abs: string, given: string): string {
  checkSize(abs);
  try {
    return readFileSync(abs, 'utf8');
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'EISDIR' ? 'is a folder' : 'cannot be read';
    throw new AgentError('CONFIG_NOT_FOUND', `config file ${abs} ${why}`, { fix: `check the path given (${given})`, cause: err });
  }
}

/** Loads and validates a config file; throws one AgentError (exit 78) listing every problem. */
export function loadConfigFile(file: string): LoadedConfig {
  const abs = resolve(file);
  let text: string;
  checkSize(abs);
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    throw new AgentError('CONFIG_NOT_FOUND', `cannot read config file ${abs}`, { fix: 'check the path given to --config', cause: err });
  }
  const res = checkConfigText(text);
  if (!res.ok) {
    const lines = res.problems.map((p) => formatProblem(abs, p));
    // One problem: one line with its fix. Several: a header line, then one line per problem.
    if (lines.length === 1) {
      throw new AgentError('CONFIG_INVALID', lines[0]!, { fix: `correct it (\`edge-agent check-config ${file}\` also checks the files the config names)` });
    }
    throw new AgentError(
      'CONFIG_INVALID',
      `invalid config, ${lines.length} problems (\`edge-agent check-config ${file}\` also checks the files it names):\n${lines.join('\n')}`,
    );
  }
  return { config: res.config!, path: abs, baseDir: dirname(abs) };
}

/** Problems with the files a (possibly invalid) config names; reads raw values defensively. */
async function referencedFileProblems(raw: unknown, baseDir: string, locate: Locate): Promise<Problem[]> {
  const problems: Problem[] = [];
  const at = (path: PropertyKey[], message: string) => problems.push({ path: formatPath(path), line: locate(path), message });
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  const get = (path: PropertyKey[]): unknown => valueAt(raw, path);
  const str = (path: PropertyKey[]): string | undefined => {
    const v = get(path);
    return typeof v === 'string' && v.length > 0 ? v : undefined;
  };
  const mustBe = (path: PropertyKey[], kind: 'file' | 'folder', what: string) => {
    const p = str(path);
    if (p === undefined) return;
    const full = abs(p);
    if (!existsSync(full)) return at(path, `${what} ${full} does not exist`);
    if (kind === 'file' && !statSync(full).isFile()) return at(path, `${what} ${full} is not a file`);
    if (kind === 'folder' && !statSync(full).isDirectory()) at(path, `${what} ${full} is not a folder`);
  };

  const manifest = str(['model', 'manifest']);
  if (manifest !== undefined) {
    try {
      const roots = get(['model', 'allowedRoots']);
      const m = loadManifest(abs(manifest), { allowedRoots: Array.isArray(roots) ? roots.filter((r): r is string => typeof r === 'string').map(abs) : [] });
      for (const v of m.variants) {
        try {
          await verifyVariantFile(m, v);
        } catch (err) {
          at(['model', 'manifest'], isAgentError(err) ? err.oneLine() : `variant ${v.name} (${manifestPath(m, v.file)}): ${messageOf(err)}`);
        }
      }
      const variant = str(['model', 'variant']);
      if (variant !== undefined && !m.variants.some((v) => v.name === variant)) {
        at(['model', 'variant'], `model ${m.name} has no variant "${variant}" (it has: ${m.variants.map((v) => v.name).join(', ')})`);
      }
      const rules = get(['rules']);
      if (Array.isArray(rules)) {
        rules.forEach((r: unknown, i) => {
          const rule = r as { labels?: unknown; label?: unknown } | null;
          const named = typeof rule?.label === 'string' ? [[['rules', i, 'label'], rule.label] as const] : [];
          const keyed = rule?.labels && typeof rule.labels === 'object' ? Object.keys(rule.labels).map((l) => [['rules', i, 'labels', l], l] as const) : [];
          for (const [path, label] of [...named, ...keyed]) {
            if (!m.labels.includes(label)) at([...path], `label "${label}" is not one the model ${m.name} detects (${m.labels.join(', ')})`);
          }
        });
      }
    } catch (err) {
      at(['model', 'manifest'], isAgentError(err) ? err.oneLine() : messageOf(err));
    }
  }
  const type = get(['source', 'type']);
  if (type === 'file') mustBe(['source', 'path'], 'file', 'video file');
  if (type === 'images') mustBe(['source', 'dir'], 'folder', 'image folder');
  mustBe(['events', 'mqtt', 'passwordFile'], 'file', 'password file');
  for (const k of ['ca', 'cert', 'key']) mustBe(['events', 'mqtt', 'tls', k], 'file', `TLS ${k} file`);
  return problems;
}

/**
 * loadConfigFile on a worker thread, for SIGHUP reloads: parsing and validating never stall the frame loop
 * (a config at the size limit takes a few hundred ms on a Pi). Same result and errors as loadConfigFile; where
 * the compiled worker is absent (running from TypeScript sources) it runs inline.
 */
export async function loadConfigFileOffThread(file: string, workerFile = fileURLToPath(new URL('./load-worker.js', import.meta.url))): Promise<LoadedConfig> {
  if (!existsSync(workerFile)) return loadConfigFile(file);
  const { Worker } = await import('node:worker_threads');
  return new Promise<LoadedConfig>((resolvePromise, reject) => {
    const w = new Worker(workerFile, { workerData: { file }, resourceLimits: { maxOldGenerationSizeMb: 256 } });
    w.once('message', (m: { loaded?: LoadedConfig; error?: { code: string; message: string; fix?: string } }) => {
      if (m.loaded) resolvePromise(m.loaded);
      else reject(new AgentError((m.error?.code ?? 'CONFIG_INVALID') as 'CONFIG_INVALID', m.error?.message ?? 'config reload failed', m.error?.fix ? { fix: m.error.fix } : {}));
      void w.terminate();
    });
    w.once('error', (err) => reject(new AgentError('CONFIG_INVALID', `config ${file} could not be read: ${messageOf(err)}`, { cause: err })));
    w.once('exit', (code) => reject(new AgentError('CONFIG_INVALID', `config reader for ${file} exited (${code})`)));
  });
}

/** Resolves a path from the config against the config file's folder. */
export function configPath(loaded: LoadedConfig, p: string): string {
  return isAbsolute(p) ? p : resolve(loaded.baseDir, p);
}
