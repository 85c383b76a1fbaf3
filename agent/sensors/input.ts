/** The sensor input port lives with the other driver ports (agent/ports.ts); re-exported here for the farm code. */
export type { SensorInput, SensorSink } from '../ports.js';
