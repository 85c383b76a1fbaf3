/** The field (farm) scene generator: simulation and layout (scene.ts), rendering (render.ts), truth (truth.ts), writing (write.ts). */
export * from './scene.js';
export { renderField } from './render.js';
export { fieldTruth, WILTED_FROM, type FieldTruth, type FieldTruthZone } from './truth.js';
export { ensureField, writeField, type WriteFieldOptions, type WrittenField } from './write.js';
