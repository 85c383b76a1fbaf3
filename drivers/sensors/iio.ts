/**
 * Soil moisture from a Linux IIO ADC channel, as the ti-ads1015 driver (drivers/iio/adc/ti-ads1015.c) exposes an
 * ADS1015/ADS1115 on a Raspberry Pi's I2C bus (dtoverlay=ads1115): per the kernel's sysfs ABI
 * (Documentation/ABI/testing/sysfs-bus-iio), /sys/bus/iio/devices/iio:deviceN/in_voltageY_raw is the raw count of
 * single-ended channel Y, in_voltageY_scale (or the shared in_voltage_scale) the millivolts per count, and
 * in_voltageY_offset (optional) is added to raw before scaling: mV = (raw + offset) * scale. The ADS1115's scale
 * depends on the PGA gain (0.0625 mV at +-2.048 V, the driver's default).
 *
 * The sysfs root is injectable (tests use a sysroot folder under test/fixtures).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { AgentError, messageOf } from '../../agent/errors.js';
import type { Logger } from '../../agent/log.js';
import { silentLogger } from '../../agent/log.js';
import type { IioSensorConfig } from '../../agent/config/sections/sensors.js';
import type { SensorInput, SensorSink } from '../../agent/ports.js';
import { moisturePercent } from './calibrate.js';

export interface IioSensorOptions {
  name: string;
  config: IioSensorConfig;
  /** Root holding sys/bus/iio/devices (default "/"). */
  sysRoot?: string;
  /** Config path of this input, for error messages (default sensors.inputs.<name>). */
  configPath?: string;
  log?: Logger;
  setInterval?: (fn: () => void, ms: number) => unknown;
  clearInterval?: (h: unknown) => void;
}

export interface IioChannelFiles {
  device: string;
  raw: string;
  scale: string;
  offset: string | undefined;
}

function devicesDir(sysRoot: string): string {
  return join(sysRoot, 'sys', 'bus', 'iio', 'devices');
}

/**
 * The files of a configured channel: the device by its folder name (iio:device0) or by the contents of its
 * `name` file (ads1115). Throws a config error naming the path when the device or channel is not there.
 */
export function resolveIioChannel(sysRoot: string, cfg: IioSensorConfig, configPath: string): IioChannelFiles {
  const root = devicesDir(sysRoot);
  let device: string | undefined;
  if (/^iio:device\d+$/.test(cfg.device)) {
    if (existsSync(join(root, cfg.device))) device = join(root, cfg.device);
  } else {
    let entries: string[] = [];
    try {
      entries = readdirSync(root).filter((e) => e.startsWith('iio:device'));
    } catch {
      /* no IIO at all: reported below */
    }
    for (const e of entries.sort()) {
      try {
        if (readFileSync(join(root, e, 'name'), 'utf8').trim() === cfg.device) {
          device = join(root, e);
          break;
        }
      } catch {
        /* a device without a readable name */
      }
    }
  }
  if (!device) {
    throw new AgentError('CONFIG_INVALID', `${configPath}.device: no IIO device "${cfg.device}" under ${root}`, {
      fix: 'check the ADC is wired and its overlay loaded (dtoverlay=ads1115), and name the device as iio:deviceN or by its name file',
    });
  }
  const raw = join(device, `in_voltage${cfg.channel}_raw`);
  if (!existsSync(raw)) {
    throw new AgentError('CONFIG_INVALID', `${configPath}.channel: ${raw} does not exist`, { fix: `choose a channel the device has (ls ${device}/in_voltage*_raw)` });
  }
  const own = join(device, `in_voltage${cfg.channel}_scale`);
  const shared = join(device, 'in_voltage_scale');
  const scale = existsSync(own) ? own : existsSync(shared) ? shared : undefined;
  if (!scale) throw new AgentError('CONFIG_INVALID', `${configPath}.channel: no in_voltage${cfg.channel}_scale or in_voltage_scale in ${device}`, { fix: 'this ADC driver does not report its scale; use another channel or driver' });
  const ownOffset = join(device, `in_voltage${cfg.channel}_offset`);
  return { device, raw, scale, offset: existsSync(ownOffset) ? ownOffset : undefined };
}

/** One reading in millivolts. */
export function readMillivolts(files: IioChannelFiles): number {
  const raw = Number(readFileSync(files.raw, 'utf8').trim());
  const scale = Number(readFileSync(files.scale, 'utf8').trim());
  const offset = files.offset ? Number(readFileSync(files.offset, 'utf8').trim()) : 0;
  if (!Number.isFinite(raw) || !Number.isFinite(scale) || !Number.isFinite(offset)) throw new Error(`unreadable value in ${files.raw} or ${files.scale}`);
  return (raw + offset) * scale;
}

export class IioSensor implements SensorInput {
  readonly provides: readonly string[];
  private files: IioChannelFiles | undefined;
  private timer: unknown;
  private readonly log: Logger;
  private failing = false;
  /** Reads that failed (I2C error: the driver returns EIO). */
  failures = 0;

  constructor(private readonly opts: IioSensorOptions) {
    this.provides = [opts.name];
    this.log = (opts.log ?? silentLogger).child({ component: 'sensors-iio', sensor: opts.name });
  }

  describe(): string {
    return `iio ${this.opts.config.device} channel ${this.opts.config.channel}${this.files ? ` (${this.files.raw})` : ''}`;
  }

  /** Resolves the channel (config error when absent), takes a first reading, then reads every intervalS. */
  async start(store: SensorSink): Promise<void> {
    this.files = resolveIioChannel(this.opts.sysRoot ?? '/', this.opts.config, this.opts.configPath ?? `sensors.inputs.${this.opts.name}`);
    this.poll(store);
    const set = this.opts.setInterval ?? ((fn, ms) => setInterval(fn, ms).unref());
    this.timer = set(() => this.poll(store), this.opts.config.intervalS * 1000);
  }

  /** One reading into the store. A failed read is logged once until reads work again; the old value ages out. */
  poll(store: SensorSink): void {
    if (!this.files) return;
    try {
      const mv = readMillivolts(this.files);
      const cal = this.opts.config.calibration;
      store.update(this.opts.name, cal ? moisturePercent(mv, cal) : mv);
      if (this.failing) this.log.info('ADC reads work again');
      this.failing = false;
    } catch (err) {
      this.failures++;
      if (!this.failing) this.log.warn({ err: messageOf(err) }, 'ADC read failed; the reading will go stale');
      this.failing = true;
    }
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) (this.opts.clearInterval ?? ((h) => clearInterval(h as NodeJS.Timeout)))(this.timer);
    this.timer = undefined;
  }
}
