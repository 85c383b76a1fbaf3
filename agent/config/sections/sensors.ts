import { z } from 'zod';

const sensorName = z.string().regex(/^[A-Za-z0-9._/-]+$/, 'letters, digits, dot, dash, slash or underscore');

/**
 * A sensor published on MQTT as gateways do it: Zigbee2MQTT (`zigbee2mqtt/<device>`, JSON with the value under
 * its property name), ESPHome (`<node>/sensor/<name>/state`, a bare number: leave valuePath out), The Things
 * Stack / ChirpStack LoRaWAN uplinks (JSON, e.g. `uplink_message.decoded_payload.moisture`, `received_at`).
 */
export const mqttSensorSchema = z
  .object({
    type: z.literal('mqtt'),
    topic: z.string().min(1),
    /** Dotted path of the number in the JSON payload; leave out for a bare number. */
    valuePath: z.string().min(1).optional(),
    /** Dotted path of the measurement time (ISO 8601, or epoch s/ms); leave out to use the time of arrival. */
    timestampPath: z.string().min(1).optional(),
    /** Overrides sensors.maxAgeS for this sensor. */
    maxAgeS: z.number().positive().optional(),
  })
  .strict();

/**
 * A Linux IIO ADC channel (e.g. an ADS1115 on a Pi with the ti-ads1015 driver):
 * /sys/bus/iio/devices/<device>/in_voltage<channel>_raw times in_voltage<channel>_scale (mV per LSB).
 */
export const iioSensorSchema = z
  .object({
    type: z.literal('iio'),
    /** iio:deviceN, or the device's name as in its `name` file (ads1115). */
    device: z.string().min(1),
    channel: z.number().int().nonnegative(),
    /** How often to read, seconds. */
    intervalS: z.number().positive().default(60),
    /** Millivolts at 0 % and at 100 % moisture; without it the value is millivolts. */
    calibration: z.object({ dryMv: z.number(), wetMv: z.number() }).strict().refine((c) => c.dryMv !== c.wetMv, 'dryMv and wetMv must differ').optional(),
    maxAgeS: z.number().positive().optional(),
  })
  .strict();

export const sensorInputSchema = z.discriminatedUnion('type', [mqttSensorSchema, iioSensorSchema]);

export const sensorsSchema = z
  .object({
    /** A reading older than this counts as unknown (never as dry), seconds. */
    maxAgeS: z.number().positive().default(900),
    /** Broker for mqtt sensors; default: events.mqtt.url. */
    broker: z.object({ url: z.string().regex(/^mqtts?:\/\//, 'an mqtt:// or mqtts:// URL') }).strict().optional(),
    /** Sensor name -> where its readings come from. */
    inputs: z.record(sensorName, sensorInputSchema).default({}),
  })
  .strict();

export type SensorsConfig = z.infer<typeof sensorsSchema>;
export type SensorInputConfig = z.infer<typeof sensorInputSchema>;
export type MqttSensorConfig = z.infer<typeof mqttSensorSchema>;
export type IioSensorConfig = z.infer<typeof iioSensorSchema>;
