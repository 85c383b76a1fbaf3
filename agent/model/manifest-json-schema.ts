import { z } from 'zod';
import { manifestSchema } from './manifest-schema.js';

/**
 * The JSON Schema (2020-12) of a model manifest as a user writes it (fields with defaults are optional), committed as
 * config/manifest.schema.json beside the config's schema: `"$schema": "../../config/manifest.schema.json"` or an
 * editor setting then completes and checks manifest.json files. Cross-field rules (unique names, `reference` naming
 * another variant) are checked by the loader. test/unit/manifest-json-schema.test.ts fails when the file is stale;
 * regenerate with `node dist/agent/model/manifest-json-schema.js --write`.
 */
export function manifestJsonSchemaText(): string {
  const schema = z.toJSONSchema(manifestSchema, { io: 'input', target: 'draft-2020-12', unrepresentable: 'any' }) as Record<string, unknown>;
  // labels may come from labelsFile instead (the loader reads it before validating).
  if (Array.isArray(schema.required)) schema.required = (schema.required as string[]).filter((k) => k !== 'labels');
  schema.anyOf = [{ required: ['labels'] }, { required: ['labelsFile'] }];
  const doc = {
    $schema: schema.$schema,
    title: 'edge-agent model manifest',
    description: 'manifest.json of a model folder (docs/models.md). Generated from agent/model/manifest-schema.ts; do not edit.',
    ...Object.fromEntries(Object.entries(schema).filter(([k]) => k !== '$schema')),
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

if (process.argv[1]?.endsWith('manifest-json-schema.js') && process.argv.includes('--write')) {
  const { writeFileSync } = await import('node:fs');
  const { resolve, dirname } = await import('node:path');
  const { fileURLToPath } = await import('node:url');
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  writeFileSync(resolve(root, 'config', 'manifest.schema.json'), manifestJsonSchemaText());
}
