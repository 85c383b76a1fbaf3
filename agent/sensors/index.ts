/** Sensor readings: the store of latest readings (store.ts). Payload parsing and calibration are the drivers' (drivers/sensors/). */
export * from './store.js';
export type { SensorInput, SensorSink } from './input.js';
