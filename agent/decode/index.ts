export type { DecodeContext, DecodeFn, DecoderDef } from './types.js';
export { getDecoder, prepareDecoder, knownDecoderTypes, registerDecoder } from './registry.js';
export { iou, nms, type NmsOptions, type NmsMethod } from './nms.js';
export { Candidates } from './candidates.js';
export { sourceMap, stretchGeometry } from './geometry.js';
export { feedbackPairs } from './common.js';
