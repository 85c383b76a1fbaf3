/**
 * Writes config/edge-agent.schema.json from the zod config schema, so editors (VS Code YAML extension,
 * `# yaml-language-server: $schema=...`) complete and check /etc/edge-agent/config.yaml.
 * The committed file must match the schema; test/unit/config-schema.test.ts fails when it is stale.
 *
 *   npm run build && node dist/scripts/export-config-schema.js [--check] [--out FILE]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { configSchema } from '../agent/config/schema.js';

/** The JSON Schema text (2020-12) of the config as a user writes it: fields with defaults are optional. */
export function configJsonSchemaText(): string {
  const schema = z.toJSONSchema(configSchema, {
    io: 'input',
    target: 'draft-2020-12',
    // Refinements (cross-field checks) cannot be expressed in JSON Schema; check-config covers them.
    unrepresentable: 'any',
  }) as Record<string, unknown>;
  const doc = {
    $schema: schema.$schema,
    title: 'edge-agent configuration',
    description:
      'YAML at /etc/edge-agent/config.yaml. Generated from agent/config/schema.ts by scripts/export-config-schema.ts; do not edit. ' +
      'Cross-field rules (outputs named by rules exist, pulses fit maxOnMs, one output per line) and referenced files are checked by `edge-agent check-config`.',
    ...Object.fromEntries(Object.entries(schema).filter(([k]) => k !== '$schema')),
    // One camera (`source:`) or several (`cameras:`), exactly one of them (the schema's refinement, for editors).
    oneOf: [{ required: ['source'] }, { required: ['cameras'] }],
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** Repository root, whether run from scripts/ (vite-node) or dist/scripts/ (compiled). */
function repoRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return here.endsWith('/dist/scripts') ? resolve(here, '..', '..') : resolve(here, '..');
}

function main(): number {
  const { values } = parseArgs({ options: { check: { type: 'boolean' }, out: { type: 'string' } } });
  const out = values.out ?? resolve(repoRoot(), 'config', 'edge-agent.schema.json');
  const text = configJsonSchemaText();
  if (values.check) {
    let current = '';
    try {
      current = readFileSync(out, 'utf8');
    } catch {
      // missing counts as stale
    }
    if (current !== text) {
      process.stderr.write(`export-config-schema: ${out} is stale: run npm run build && node dist/scripts/export-config-schema.js\n`);
      return 1;
    }
    process.stdout.write(`export-config-schema: ${out} is up to date\n`);
    return 0;
  }
  writeFileSync(out, text);
  process.stdout.write(`export-config-schema: wrote ${out}\n`);
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exitCode = main();
