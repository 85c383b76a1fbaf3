import { AgentError } from '../errors.js';
import type { DecoderSpec } from '../model/manifest-schema.js';

/** Per-class score thresholds resolved from `scoreThreshold` and `classThresholds` (by label). */
export interface Thresholds {
  perClass: Float64Array;
  /** The smallest threshold: a score below it cannot pass for any class (checked first, cheaply). */
  min: number;
}

const cache = new WeakMap<DecoderSpec, { labels: string[]; t: Thresholds }>();

export function resolveThresholds(spec: DecoderSpec, labels: string[]): Thresholds {
  const hit = cache.get(spec);
  if (hit && hit.labels === labels) return hit.t;
  const perClass = new Float64Array(labels.length).fill(spec.scoreThreshold);
  let min = labels.length ? Infinity : spec.scoreThreshold;
  for (const [label, thr] of Object.entries(spec.classThresholds ?? {})) {
    const i = labels.indexOf(label);
    if (i < 0) {
      throw new AgentError('MANIFEST_INVALID', `decoder.classThresholds.${label}: "${label}" is not one of the model's labels`, {
        fix: `use a label from the manifest's labels (${labels.slice(0, 8).join(', ')}${labels.length > 8 ? ', ...' : ''})`,
      });
    }
    perClass[i] = thr;
  }
  for (const t of perClass) min = Math.min(min, t);
  const t = { perClass, min };
  cache.set(spec, { labels, t });
  return t;
}
