import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { manifestJsonSchemaText } from '../../agent/model/manifest-json-schema.js';

const repo = resolve(import.meta.dirname, '..', '..');

describe('config/manifest.schema.json', () => {
  it('matches the manifest schema (regenerate: npm run build && node dist/agent/model/manifest-json-schema.js --write)', () => {
    expect(readFileSync(resolve(repo, 'config', 'manifest.schema.json'), 'utf8')).toBe(manifestJsonSchemaText());
  });
  it('states the defaults and the fraction format of accuracy', () => {
    const s = JSON.parse(manifestJsonSchemaText()) as { properties: { input: { properties: Record<string, { default?: unknown }> }; variants: { items: { properties: { accuracy: { properties: { mAP50: { maximum: number } } } } } } } };
    expect(s.properties.input.properties.resize!.default).toBe('stretch');
    expect(s.properties.input.properties.letterboxAlign!.default).toBe('center');
    expect(s.properties.variants.items.properties.accuracy.properties.mAP50.maximum).toBe(1);
  });
});
