import type { z } from 'zod';
import { LineCounter, parseDocument, isMap, isSeq, type Node as YamlNode } from 'yaml';

/** One problem found in a config or manifest file: where (dotted path, line when known) and what. */
export interface Problem {
  path: string;
  line?: number;
  message: string;
}

export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out || '(top level)';
}

/** Issue codes whose message is clearer with the offending value quoted after it. */
const quoteValue = new Set(['too_big', 'too_small', 'invalid_type', 'invalid_format', 'invalid_value']);

/** The value as the user wrote it, short: strings quoted, long values cut. */
function shown(v: unknown): string {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

/**
 * Turns zod issues into problems, one per issue, with the YAML line where the document is known.
 * With `valueAt` (the parsed document), messages about a bad value also say what the value was.
 */
export function problemsFromZod(
  error: z.ZodError,
  locate?: (path: ReadonlyArray<PropertyKey>) => number | undefined,
  valueAt?: (path: ReadonlyArray<PropertyKey>) => unknown,
): Problem[] {
  return error.issues.map((iss) => {
    const path = iss.path as PropertyKey[];
    let message = iss.message;
    if (valueAt && quoteValue.has(iss.code)) {
      const v = valueAt(path);
      if (v !== undefined && (typeof v !== 'object' || v === null || Array.isArray(v))) message += ` (got ${shown(v)})`;
    }
    if (iss.code === 'unrecognized_keys') {
      const keys = (iss as { keys: string[] }).keys;
      message = `unknown key${keys.length > 1 ? 's' : ''} ${keys.map((k) => `"${k}"`).join(', ')} (check the spelling)`;
      const line = locate?.([...path, keys[0]!]) ?? locate?.(path);
      return { path: formatPath([...path, keys[0]!]), line, message };
    }
    return { path: formatPath(path), line: locate?.(path), message };
  });
}

export function formatProblem(file: string, p: Problem): string {
  return `${file}${p.line ? `:${p.line}` : ''}: ${p.path}: ${p.message}`;
}

/** Parses YAML (or JSON, which is YAML) keeping positions, so problems can name a line. */
export function parseWithLines(text: string): {
  value: unknown;
  syntax: Problem[];
  locate: (path: ReadonlyArray<PropertyKey>) => number | undefined;
} {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  // Without prettyErrors the yaml package gives offsets (pos), not lines: map them with the line counter.
  const syntax: Problem[] = doc.errors.map((e) => ({
    path: '(syntax)',
    line: e.linePos?.[0]?.line ?? (e.pos?.[0] !== undefined ? lc.linePos(e.pos[0]).line : undefined),
    message: e.message.split('\n')[0]!,
  }));
  const locate = (path: ReadonlyArray<PropertyKey>): number | undefined => {
    let node: unknown = doc.contents;
    let last: YamlNode | undefined = doc.contents ?? undefined;
    for (const key of path) {
      if (isMap(node)) {
        const pair = node.items.find((it) => (it.key as { value?: unknown })?.value === key);
        if (!pair) break;
        last = (pair.key as YamlNode) ?? last;
        node = pair.value;
      } else if (isSeq(node) && typeof key === 'number') {
        node = node.items[key];
        if (node) last = node as YamlNode;
      } else break;
    }
    const off = last?.range?.[0];
    return off === undefined ? undefined : lc.linePos(off).line;
  };
  if (syntax.length) return { value: undefined, syntax, locate };
  try {
    return { value: doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }), syntax, locate };
  } catch (err) {
    // The yaml package refuses alias expansion past maxAliasCount ("billion laughs") with a ReferenceError.
    const why = err instanceof Error ? err.message.split('\n')[0]! : String(err);
    return { value: undefined, syntax: [{ path: '(aliases)', message: `YAML aliases expand too far (${why}); a config needs at most a few (limit ${MAX_ALIAS_COUNT})` }], locate };
  }
}

/**
 * How far YAML aliases (*ref) may expand: the yaml package counts, per alias, the nodes it would copy
 * (https://eemeli.org/yaml/#tojs-options, maxAliasCount). A real config uses a handful; a "billion laughs"
 * document (aliases of aliases) would need gigabytes. 100 is the package's own default, now caught and reported.
 */
export const MAX_ALIAS_COUNT = 100;
