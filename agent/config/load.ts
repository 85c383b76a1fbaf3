import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { AgentError } from '../errors.js';
import { configSchema, type AgentConfig } from './schema.js';
import { formatProblem, parseWithLines, problemsFromZod, type Problem } from './issues.js';

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

/** Validates config text; returns every problem (syntax, schema, cross-field) with its path and line. */
export function checkConfigText(text: string): CheckResult {
  const parsed = parseWithLines(text);
  if (parsed.syntax.length) return { ok: false, problems: parsed.syntax };
  const res = configSchema.safeParse(parsed.value ?? {});
  if (!res.success) return { ok: false, problems: problemsFromZod(res.error, parsed.locate) };
  return { ok: true, problems: [], config: res.data };
}

/** Loads and validates a config file; throws one AgentError (exit 78) listing every problem. */
export function loadConfigFile(file: string): LoadedConfig {
  const abs = resolve(file);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    throw new AgentError('CONFIG_NOT_FOUND', `cannot read config file ${abs}`, { fix: 'check the path given to --config', cause: err });
  }
  const res = checkConfigText(text);
  if (!res.ok) {
    throw new AgentError('CONFIG_INVALID', res.problems.map((p) => formatProblem(abs, p)).join('\n'), {
      fix: res.problems.length > 1 ? `${res.problems.length} problems; run \`edge-agent check-config ${file}\` for the list` : undefined,
    });
  }
  return { config: res.config!, path: abs, baseDir: dirname(abs) };
}

/** Resolves a path from the config against the config file's folder. */
export function configPath(loaded: LoadedConfig, p: string): string {
  return isAbsolute(p) ? p : resolve(loaded.baseDir, p);
}
