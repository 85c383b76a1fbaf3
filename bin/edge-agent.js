#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=1
// Entry point for `npx edge-agent`. The TypeScript sources are compiled to dist/ by `npm ci` (prepare) or `npm run build`.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const main = fileURLToPath(new URL('../dist/agent/cli/main.js', import.meta.url));
if (!existsSync(main)) {
  process.stderr.write('edge-agent: not built yet: run `npm ci` (or `npm run build`) in the project folder first\n');
  process.exit(1);
}
const { cli } = await import(main);
process.exitCode = await cli(process.argv.slice(2));
