import type { SensorStore } from './store.js';

/**
 * One source of sensor readings (an MQTT topic, an ADC channel). It writes into the store; the store decides
 * what is fresh. Constructors assign; start() connects or claims; stop() undoes.
 */
export interface SensorInput {
  /** The sensor names this input provides. */
  readonly provides: readonly string[];
  describe(): string;
  start(store: SensorStore): Promise<void>;
  stop(): Promise<void>;
}
