/** Reading the examples and tables out of the docs, so tests can hold them to what a real run produces. */

/** The n-th ```json block after the heading line `heading` (before the next heading of the same level). */
export function docJsonBlock(doc: string, heading: string, n: number): unknown {
  const start = doc.indexOf(`\n${heading}`);
  if (start < 0) throw new Error(`no heading "${heading}" in the doc`);
  const level = heading.split(' ')[0]!;
  const rest = doc.slice(start + heading.length + 1);
  const end = rest.search(new RegExp(`\\n${level} `));
  const section = end < 0 ? rest : rest.slice(0, end);
  const blocks = [...section.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]!);
  if (!blocks[n]) throw new Error(`no json block #${n} under "${heading}"`);
  return JSON.parse(blocks[n]!) as unknown;
}

/** Every key path in a JSON value: objects by key, array elements merged (`a[].b`). Sorted, unique. */
export function keyPaths(v: unknown, prefix = ''): string[] {
  const out = new Set<string>();
  const walk = (x: unknown, p: string): void => {
    if (Array.isArray(x)) for (const e of x) walk(e, `${p}[]`);
    else if (x && typeof x === 'object') {
      for (const [k, val] of Object.entries(x)) {
        const path = p ? `${p}.${k}` : k;
        out.add(path);
        walk(val, path);
      }
    }
  };
  walk(v, prefix);
  return [...out].sort();
}

/** The metrics table in docs/install.md: metric name -> Prometheus type (first word of the type column). */
export function docMetricsTable(doc: string): Record<string, string> {
  const rows = [...doc.matchAll(/^\| `(edge_agent_[a-z_]+)` \| ([a-z]+)[^|]*\|/gm)];
  return Object.fromEntries(rows.map((m) => [m[1]!, m[2]!]));
}
