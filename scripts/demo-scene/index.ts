/** The conveyor demo scene generator: layout and truth (scene.ts), rendering (render.ts), writing (write.ts). */
export * from './scene.js';
export { renderFrame } from './render.js';
export { ensureScene, writeScene, type WriteSceneOptions, type WrittenScene } from './write.js';
export { DEFECT_KINDS, PART_KINDS, type DefectKind, type PartKind } from './shapes.js';
export { mulberry32, mixSeed } from './prng.js';
