import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configJsonSchemaText } from '../../scripts/export-config-schema.js';

const repo = resolve(import.meta.dirname, '..', '..');
const committed = join(repo, 'config/edge-agent.schema.json');

describe('config/edge-agent.schema.json', () => {
  it('is up to date with agent/config/schema.ts (else: npm run build && node dist/scripts/export-config-schema.js)', () => {
    expect(readFileSync(committed, 'utf8')).toBe(configJsonSchemaText());
  });

  it('describes the config as written: strict objects, required source and model, defaults shown', () => {
    const s = JSON.parse(readFileSync(committed, 'utf8')) as {
      $schema: string;
      required: string[];
      oneOf: Array<{ required: string[] }>;
      additionalProperties: boolean;
      properties: Record<string, { default?: unknown; properties?: Record<string, { default?: unknown }> }>;
    };
    expect(s.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    // A camera is required: the single `source:` form or `cameras:` (exactly one of them).
    expect(s.required.sort()).toEqual(['model']);
    expect(s.oneOf).toEqual([{ required: ['source'] }, { required: ['cameras'] }]);
    expect(s.additionalProperties).toBe(false);
    expect(s.properties.health?.properties?.listen?.default).toBe('127.0.0.1:9464');
    expect(Object.keys(s.properties).sort()).toEqual(
      ['device', 'events', 'health', 'log', 'model', 'outputs', 'pipeline', 'rules', 'source', 'stateDir', 'status', 'tracker', 'sensors', 'irrigation', 'cameras', 'models'].sort(),
    );
  });
});
