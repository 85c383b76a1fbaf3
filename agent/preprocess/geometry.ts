/** The letterbox geometry lives in agent/core/geometry.ts (pure, shared with the drivers); re-exported here. */
export * from '../core/geometry.js';
