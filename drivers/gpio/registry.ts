/**
 * Output drivers registered by `type`, each a lazy factory: a driver's module (and its native part) is imported
 * only when a configured output uses it, and a driver that cannot load fails only outputs of its own type, with
 * the reason (which `doctor` can print through driverAvailability()).
 */
import { AgentError } from '../../agent/errors.js';
import type { Actuator, DriverContext } from '../../agent/actuators/actuator.js';
import type { OutputDriverConfig } from '../../agent/config/sections/outputs.js';

type Factory = (cfg: OutputDriverConfig, ctx: DriverContext) => Promise<Actuator>;

const factories: Record<OutputDriverConfig['type'], Factory> = {
  'dry-run': async (_cfg, ctx) => {
    const { DryRunActuator } = await import('./dry-run.js');
    return new DryRunActuator(ctx);
  },
  gpiochip: async (cfg, ctx) => {
    const { GpiochipActuator } = await import('./gpiochip.js');
    let sys = ctx.gpioSyscalls;
    if (!sys) {
      const { loadKernelSyscalls } = await import('./syscalls.js');
      const loaded = loadKernelSyscalls();
      if (!loaded.syscalls) {
        throw new AgentError('BACKEND_UNAVAILABLE', `output "${ctx.output}": the gpiochip driver is unavailable: ${loaded.error}`, {
          fix: 'reinstall the package so koffi is present, or use driver type sysfs',
        });
      }
      sys = loaded.syscalls;
    }
    return new GpiochipActuator(cfg as Extract<OutputDriverConfig, { type: 'gpiochip' }>, ctx, sys);
  },
  sysfs: async (cfg, ctx) => {
    const { SysfsActuator } = await import('./sysfs.js');
    return new SysfsActuator(cfg as Extract<OutputDriverConfig, { type: 'sysfs' }>, ctx);
  },
  mqtt: async (cfg, ctx) => {
    const { MqttRelayActuator } = await import('./mqtt.js');
    return new MqttRelayActuator(cfg as Extract<OutputDriverConfig, { type: 'mqtt' }>, ctx);
  },
};

export const driverTypes = Object.keys(factories) as Array<OutputDriverConfig['type']>;

/** Creates (does not start) the driver for one output. */
export async function createActuator(cfg: OutputDriverConfig, ctx: DriverContext): Promise<Actuator> {
  const factory = factories[cfg.type];
  if (!factory) throw new AgentError('OUTPUT_INVALID', `output "${ctx.output}": unknown driver type "${(cfg as { type: string }).type}"`, { fix: `use one of: ${driverTypes.join(', ')}` });
  return factory(cfg, ctx);
}

/** Which drivers can load on this machine, with the reason for those that cannot (for `doctor`). */
export async function driverAvailability(): Promise<Record<string, { ok: boolean; reason?: string }>> {
  const { loadKernelSyscalls } = await import('./syscalls.js');
  const k = loadKernelSyscalls();
  return {
    'dry-run': { ok: true },
    gpiochip: k.syscalls ? { ok: true } : { ok: false, reason: k.error },
    sysfs: { ok: true },
    mqtt: { ok: true },
  };
}
