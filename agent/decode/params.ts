import type { z } from 'zod';
import { AgentError } from '../errors.js';
import { formatPath } from '../config/issues.js';
import type { OutputTensor } from '../types.js';

/** Validates a decoder's params; errors name the manifest field, e.g. `decoder.params.strides[1]: expected number`. */
export function parseDecoderParams<S extends z.ZodType>(type: string, schema: S, raw: unknown): z.infer<S> {
  const res = schema.safeParse(raw ?? {});
  if (res.success) return res.data;
  const problems = res.error.issues.map((iss) => {
    const path = ['decoder', 'params', ...(iss.path as PropertyKey[])];
    if (iss.code === 'unrecognized_keys') {
      const keys = (iss as { keys: string[] }).keys;
      return `${formatPath([...path, keys[0]!])}: unknown key${keys.length > 1 ? 's' : ''} ${keys.map((k) => `"${k}"`).join(', ')}`;
    }
    return `${formatPath(path)}: ${iss.message}`;
  });
  throw new AgentError('MANIFEST_INVALID', `${type} decoder: ${problems.join('; ')}`, {
    fix: `correct decoder.params in the model manifest (see docs/models.md, decoder "${type}")`,
  });
}

/**
 * Picks a named output, or the only one when no name is configured. A missing name is a model/manifest
 * mismatch, reported with the outputs the model really has.
 */
export function pickOutput(outputs: Record<string, OutputTensor>, name: string | undefined, field: string, type: string): OutputTensor {
  if (name !== undefined) {
    const t = outputs[name];
    if (t) return t;
    throw new AgentError('MODEL_MISMATCH', `${type} decoder: the model has no output "${name}" (decoder.params.${field}); it has ${Object.keys(outputs).join(', ')}`, {
      fix: `set decoder.params.${field} to one of the model's output names`,
    });
  }
  const names = Object.keys(outputs);
  if (names.length === 1) return outputs[names[0]!]!;
  throw new AgentError('MANIFEST_INVALID', `${type} decoder: the model has ${names.length} outputs (${names.join(', ')}) and decoder.params.${field} is not set`, {
    fix: `set decoder.params.${field} to the output to decode`,
  });
}

/** Throws a MODEL_MISMATCH naming the output and the shape that was expected. */
export function shapeMismatch(type: string, what: string, dims: number[], expected: string): never {
  throw new AgentError('MODEL_MISMATCH', `${type} decoder: output ${what} has shape [${dims.join(',')}], expected ${expected}`, {
    fix: 'check decoder.type/params and labels in the manifest against the model (the number of classes comes from labels)',
  });
}

/** Product of dims after the batch dimension. */
export function elementsPerBatch(dims: number[]): number {
  let n = 1;
  for (let i = 1; i < dims.length; i++) n *= dims[i]!;
  return n;
}
