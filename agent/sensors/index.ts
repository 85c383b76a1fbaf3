/** Sensor inputs: the store of latest readings (store.ts), payload parsing (payload.ts), calibration. */
export * from './store.js';
export * from './calibrate.js';
export * from './payload.js';
export type { SensorInput } from './input.js';
