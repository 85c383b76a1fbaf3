/** The tensor packer lives in agent/core/tensor.ts (pure, shared with the inference worker); re-exported here. */
export * from '../core/tensor.js';
