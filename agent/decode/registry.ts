import { AgentError } from '../errors.js';
import type { DecoderSpec } from '../model/manifest-schema.js';
import { feedbackPairs, ownParams } from './common.js';
import { resolveThresholds } from './thresholds.js';
import type { DecodeContext, DecodeFn, DecoderDef } from './types.js';
import { anchorRegressionDecoder } from './anchor-regression.js';
import { gflDecoder } from './gfl.js';
import { priorBoxesDecoder } from './prior-boxes.js';
import { ssdPostprocessDecoder } from './ssd-postprocess.js';
import { yolov5Decoder } from './yolov5.js';
import { yolov8Decoder } from './yolov8.js';
import { yoloxDecoder } from './yolox.js';

/** Decoder families by `decoder.type`. Adding a family = one file plus one line here. */
const decoders = new Map<string, DecoderDef<unknown>>();

export function registerDecoder<P>(def: DecoderDef<P>): void {
  decoders.set(def.type, def as DecoderDef<unknown>);
}

registerDecoder(yolov8Decoder);
registerDecoder(yolov5Decoder);
registerDecoder(yoloxDecoder);
registerDecoder(ssdPostprocessDecoder);
registerDecoder(priorBoxesDecoder);
registerDecoder(anchorRegressionDecoder);
registerDecoder(gflDecoder);

export function knownDecoderTypes(): string[] {
  return [...decoders.keys()].sort();
}

function lookup(type: string): DecoderDef<unknown> {
  const def = decoders.get(type);
  if (!def) {
    throw new AgentError('MANIFEST_INVALID', `decoder.type "${type}" is not a known decoder`, {
      fix: `use one of: ${knownDecoderTypes().join(', ')}`,
    });
  }
  return def;
}

/**
 * The decode function of a family. Params are validated and per-model state (anchors, buffers) built on the
 * first call for a given `spec.params` object, then reused: pass the same spec object every frame.
 */
export function getDecoder(type: string): DecodeFn {
  const def = lookup(type);
  const prepared = new WeakMap<object, DecodeFn>();
  return (outputs, ctx) => {
    const key = ctx.spec.params as object;
    let fn = prepared.get(key);
    if (!fn) {
      fn = def.create(def.parseParams(ownParams(ctx.spec.params)));
      prepared.set(key, fn);
    }
    return fn(outputs, ctx);
  };
}

/**
 * Validates a manifest's decoder section now (type, params, class thresholds) and returns its decode
 * function: call at model load so a bad manifest fails at start-up, not on the first frame.
 */
export function prepareDecoder(spec: DecoderSpec, labels: string[]): DecodeFn {
  const def = lookup(spec.type);
  const fn = def.create(def.parseParams(ownParams(spec.params)));
  feedbackPairs(spec);
  resolveThresholds(spec, labels);
  return (outputs, ctx: DecodeContext) => fn(outputs, ctx);
}
