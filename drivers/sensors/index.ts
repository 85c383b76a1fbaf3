/**
 * Builds the sensor inputs of a config: one MQTT connection for every mqtt sensor, one poller per IIO channel.
 * The composition root starts them with the SensorStore (agent/sensors/store.ts) the irrigation controller reads.
 */
import type { Logger } from '../../agent/log.js';
import type { SensorsConfig, MqttSensorConfig } from '../../agent/config/sections/sensors.js';
import type { SensorInput } from '../../agent/ports.js';
import { IioSensor, resolveIioChannel } from './iio.js';
import { MqttSensors } from './mqtt.js';

export { IioSensor, MqttSensors };

export function sensorInputs(cfg: SensorsConfig, opts: { brokerUrl?: string; sysRoot?: string; log?: Logger }): SensorInput[] {
  const out: SensorInput[] = [];
  const mqtt: Record<string, MqttSensorConfig> = {};
  for (const [name, s] of Object.entries(cfg.inputs)) {
    if (s.type === 'mqtt') mqtt[name] = s;
    else out.push(new IioSensor({ name, config: s, sysRoot: opts.sysRoot, log: opts.log }));
  }
  const url = cfg.broker?.url ?? opts.brokerUrl;
  if (Object.keys(mqtt).length && url) out.push(new MqttSensors({ url, sensors: mqtt, log: opts.log }));
  return out;
}

/**
 * The IIO channels a config names that do not exist on this machine, as config problems (path, message): for
 * check-config and start-up (exit 78). MQTT sensors cannot be checked offline.
 */
export function sensorFileProblems(cfg: SensorsConfig, sysRoot = '/'): Array<{ path: string; message: string }> {
  const out: Array<{ path: string; message: string }> = [];
  for (const [name, s] of Object.entries(cfg.inputs)) {
    if (s.type !== 'iio') continue;
    try {
      resolveIioChannel(sysRoot, s, `sensors.inputs.${name}`);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      const i = msg.indexOf(': ');
      out.push({ path: msg.slice(0, i), message: msg.slice(i + 2) });
    }
  }
  return out;
}
