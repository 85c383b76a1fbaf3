// npm "prepare" (runs on `npm ci` / `npm install` in a checkout): builds dist/ with the TypeScript compiler when the dev
// dependencies are installed. With `npm ci --omit=dev` there is no compiler: a release tarball or .deb already holds
// dist/, so this says so and succeeds instead of failing with "tsc: not found".
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let tsc;
try {
  tsc = require.resolve('typescript/bin/tsc');
} catch {
  const built = existsSync(new URL('../../dist/agent/cli/main.js', import.meta.url));
  process.stderr.write(
    built
      ? 'edge-agent: dev dependencies not installed; using the dist/ already built\n'
      : 'edge-agent: dev dependencies not installed, so dist/ is not built: run `npm ci` (with dev dependencies) then `npm run build`, or install a release package\n',
  );
  process.exit(0);
}
const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
process.exit(r.status ?? 1);
