/**
 * The page's files (HTML, CSS, JS) are shipped as they are, no build step: they live in agent/status/page/.
 * tsc does not copy them, so the compiled module (dist/agent/status/assets.js) looks for the folder next to
 * itself first, then in the package's agent/status/page/ (which the npm package must include).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AgentError } from '../errors.js';

export const PAGE_FILES = { 'index.html': 'text/html; charset=utf-8', 'app.js': 'text/javascript; charset=utf-8', 'style.css': 'text/css; charset=utf-8' } as const;
export type PageFile = keyof typeof PAGE_FILES;

export function pageFolder(here = dirname(fileURLToPath(import.meta.url))): string {
  const candidates = [join(here, 'page'), resolve(here, '..', '..', '..', 'agent', 'status', 'page')];
  const found = candidates.find((c) => existsSync(join(c, 'index.html')));
  if (!found) throw new AgentError('INTERNAL', `the status page files are missing (looked in ${candidates.join(', ')})`, { fix: 'reinstall edge-agent: the package must include agent/status/page/' });
  return found;
}

/** Reads the page files once (a few KB). */
export function loadPage(folder = pageFolder()): Record<PageFile, Buffer> {
  return Object.fromEntries(Object.keys(PAGE_FILES).map((f) => [f, readFileSync(join(folder, f))])) as Record<PageFile, Buffer>;
}
