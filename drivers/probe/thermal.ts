import type { MemoryInfo, ThermalInfo, ThermalZone, ThrottleFlags, ThrottleState } from '../../agent/select/hardware.js';
import type { Sysroot } from './sysroot.js';

/** MemTotal / MemAvailable from /proc/meminfo (kB, Documentation/filesystems/proc.rst) in MB. */
export function probeMemory(sys: Sysroot): MemoryInfo {
  const text = sys.text('proc/meminfo');
  if (text === undefined) {
    sys.problems.push('no /proc/meminfo: memory unknown (variants are not filtered by memory)');
    return { totalMB: null, availableMB: null };
  }
  const kb = (key: string): number | null => {
    const m = new RegExp(`^${key}:\\s+(\\d+)\\s*kB`, 'm').exec(text);
    return m ? Math.floor(Number(m[1]) / 1024) : null;
  };
  const totalMB = kb('MemTotal');
  // Kernels before 3.14 lack MemAvailable; MemFree is a pessimistic stand-in.
  const availableMB = kb('MemAvailable') ?? kb('MemFree');
  if (totalMB === null) sys.problems.push('/proc/meminfo has no MemTotal line');
  return { totalMB, availableMB };
}

/**
 * Thermal zones from /sys/class/thermal/thermal_zone* (type + temp in millidegrees Celsius,
 * Documentation/driver-api/thermal/sysfs-api.rst), and the Raspberry Pi firmware throttle word.
 */
export function probeThermal(sys: Sysroot, vcgencmdThrottled: string | undefined): ThermalInfo {
  const zones: ThermalZone[] = [];
  for (const zone of sys.list('sys/class/thermal')) {
    if (!zone.startsWith('thermal_zone')) continue;
    const type = sys.line(`sys/class/thermal/${zone}/type`) ?? 'unknown';
    const raw = sys.line(`sys/class/thermal/${zone}/temp`);
    const milli = raw === undefined ? NaN : Number(raw);
    zones.push({ zone, type, tempC: Number.isFinite(milli) ? Math.round(milli / 100) / 10 : null });
  }
  const info: ThermalInfo = { zones };
  const throttled = readThrottled(sys, vcgencmdThrottled);
  if (throttled) info.throttled = throttled;
  const alarm = readUnderVoltageAlarm(sys);
  if (alarm !== undefined) info.underVoltageAlarm = alarm;
  return info;
}

/**
 * The Pi firmware's under-voltage alarm as a hwmon: the device named `rpi_volt` (Linux
 * drivers/hwmon/raspberrypi-hwmon.c) exposes in0_lcrit_alarm, 1 while the supply is too low. hwmonN numbering
 * changes between boots, so it is found by name. Newer kernels deprecate get_throttled in favour of this.
 */
function readUnderVoltageAlarm(sys: Sysroot): boolean | undefined {
  for (const hw of sys.list('sys/class/hwmon')) {
    if (sys.line(`sys/class/hwmon/${hw}/name`) !== 'rpi_volt') continue;
    const v = sys.line(`sys/class/hwmon/${hw}/in0_lcrit_alarm`);
    if (v === '0' || v === '1') return v === '1';
  }
  return undefined;
}

/**
 * The throttle word: `vcgencmd get_throttled` prints "throttled=0x50005"; the firmware driver also exposes it
 * as hex without a prefix ("%x\n", get_throttled_show in raspberrypi/linux drivers/firmware/raspberrypi.c) in /sys/devices/platform/soc/soc:firmware/get_throttled (other SoC node names on newer boards, so
 * every /sys/devices/platform/<node>/<node>:firmware folder is checked).
 */
function readThrottled(sys: Sysroot, vcgencmd: string | undefined): ThrottleState | undefined {
  if (vcgencmd !== undefined) {
    const m = /throttled=(0x[0-9a-fA-F]+|\d+)/.exec(vcgencmd);
    if (m) return decodeThrottled(Number(m[1]), 'vcgencmd');
    sys.problems.push(`vcgencmd get_throttled printed "${vcgencmd.trim().slice(0, 60)}", expected "throttled=0x..."`);
  }
  for (const node of sys.list('sys/devices/platform')) {
    const rel = `sys/devices/platform/${node}/${node}:firmware/get_throttled`;
    const text = sys.line(rel);
    if (text === undefined) continue;
    const value = Number.parseInt(text.replace(/^0x/i, ''), 16);
    if (Number.isNaN(value)) {
      sys.problems.push(`/${rel} holds "${text.slice(0, 40)}", expected a hex number`);
      return undefined;
    }
    return decodeThrottled(value, 'sysfs');
  }
  return undefined;
}

/**
 * Bits from the Raspberry Pi documentation (computers/os.html#get_throttled): 0 under-voltage, 1 ARM frequency
 * capped, 2 currently throttled, 3 soft temperature limit active; bits 16..19 the same "has occurred since boot".
 */
export function decodeThrottled(raw: number, source: ThrottleState['source']): ThrottleState {
  const flags = (shift: number): ThrottleFlags => ({
    underVoltage: Boolean(raw & (1 << shift)),
    freqCapped: Boolean(raw & (1 << (shift + 1))),
    throttled: Boolean(raw & (1 << (shift + 2))),
    softTempLimit: Boolean(raw & (1 << (shift + 3))),
  });
  const now = flags(0);
  const sinceBoot = flags(16);
  const names: Array<[keyof ThrottleFlags, string]> = [
    ['underVoltage', 'under-voltage'],
    ['freqCapped', 'ARM frequency capped'],
    ['throttled', 'throttled'],
    ['softTempLimit', 'soft temperature limit'],
  ];
  const active: string[] = [];
  for (const [k, label] of names) if (now[k]) active.push(`${label} now`);
  for (const [k, label] of names) if (sinceBoot[k] && !now[k]) active.push(`${label} since boot`);
  return { raw, source, now, sinceBoot, active };
}
