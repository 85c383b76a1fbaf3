/** Irrigation: config (config.ts), local time and windows, the water ledger, the controller. */
export * from './config.js';
export * from './controller.js';
export { cameraVerdict, type CameraDetection } from './camera.js';
export { inWindows, localTime, type LocalTime } from './localtime.js';
export { WaterLedger, type LedgerData } from './ledger.js';
