import { z } from 'zod';
import type { DecoderSpec } from '../model/manifest-schema.js';
import { parseDecoderParams } from './params.js';

/**
 * Params every decoder accepts besides its own. `feedback` lists [output, input] pairs of recurrent models:
 * the output of one frame is fed to that input on the next (the runtime wrapper does it; decoders ignore it).
 */
const commonSchema = z.object({
  feedback: z.array(z.tuple([z.string().min(1), z.string().min(1)])).optional(),
});

const commonKeys = ['feedback'];

/** The decoder-specific params, without the common keys. */
export function ownParams(params: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params ?? {})) if (!commonKeys.includes(k)) out[k] = v;
  return out;
}

/** Recurrent-state feedback pairs [output name, input name] from `decoder.params.feedback`. */
export function feedbackPairs(spec: DecoderSpec): Array<[string, string]> {
  const picked: Record<string, unknown> = {};
  if (spec.params && 'feedback' in spec.params) picked.feedback = spec.params.feedback;
  return parseDecoderParams(spec.type, commonSchema, picked).feedback ?? [];
}
