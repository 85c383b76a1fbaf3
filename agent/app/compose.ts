import type { Logger } from '../log.js';
import type { FrameSource, InferenceBackend } from '../types.js';
import type { SourceConfig } from '../config/sections/source.js';
import type { EventsConfig } from '../config/sections/events.js';
import type { HardwareProfile } from '../select/index.js';
import type { HardwareInfo } from '../model/choose.js';
import type { BackendFactory } from '../model/open-variant.js';
import type { AgentDrivers, SourceOpenOptions } from '../ports.js';
import { packageRoot } from '../paths.js';
import { Registry } from './registry.js';
import { ModelHost, type ModelHostDeps, type ModelHostOptions } from '../model/host.js';
import { registerSinkType, type SinkFactory } from '../events/registry.js';
import { Agent, type AgentOptions } from '../agent.js';
import { farmExtensions } from './farm-wiring.js';
import { StatefulBackend } from '../../drivers/inference/tflite/stateful.js';
import { allowedCpus } from '../../drivers/inference/affinity.js';
import { createNotifier } from '../../drivers/systemd/notify.js';
import { probeThermal } from '../../drivers/probe/thermal.js';
import { Sysroot } from '../../drivers/probe/sysroot.js';
import { acceleratorPowerClass, energyPerInferenceJ, powerClassOf } from '../../drivers/probe/power.js';

/**
 * The composition root: the only code that names concrete drivers. Everything else in agent/ takes ports
 * (agent/ports.ts, agent/types.ts) and gets its drivers from here. Every driver is imported lazily by `type`, so
 * `edge-agent --help` loads no native module and a runtime that cannot load disables only its own entry.
 */

/** Inference backends by runtime name (manifest `runtime`). */
export const backends = new Registry<(log: Logger) => InferenceBackend>('runtime')
  .register('onnxruntime', async () => {
    // No native onnxruntime-node build here (armhf), or EDGE_AGENT_ORT_BACKEND=wasm: the same .onnx files run on the
    // WebAssembly build; the backend's log says which and why.
    const choice = (await import('../../drivers/inference/wasm/choice.js')).ortBackendChoice();
    if (choice.backend === 'wasm') {
      const { WasmOrtBackend } = await import('../../drivers/inference/wasm/backend.js');
      return (log) => new WasmOrtBackend(log.child({ backend: 'wasm', why: choice.reason }));
    }
    const { OnnxRuntimeBackend } = await import('../../drivers/inference/onnxruntime.js');
    return (log) => new OnnxRuntimeBackend(log);
  })
  .register('tflite', async () => {
    // Resolved at run time: the TFLite driver loads libtensorflowlite_c through koffi only when a .tflite model is used.
    const path = '../../drivers/inference/tflite/index.js';
    const mod = (await import(path)) as { TfliteBackend: new (log: Logger) => InferenceBackend };
    return (log) => new mod.TfliteBackend(log);
  });

type SourceFactory = (cfg: SourceConfig, o: SourceOpenOptions) => FrameSource;

/** Frame sources by `source.type`. */
export const sources = new Registry<SourceFactory>('source');
for (const type of ['file', 'rtsp', 'v4l2', 'libcamera', 'jetson-csi', 'pipeline', 'images'] as const) {
  sources.register(type, async () => (await import('../../drivers/camera/index.js')).createSource as SourceFactory);
}

/** Event transports by `events.<type>` (jsonl is the agent's own file sink, registered in agent/events/registry.ts). */
export const transports = new Registry<SinkFactory>('event transport').register('mqtt', async () => async (cfg, ctx) => {
  if (!cfg.mqtt) return undefined;
  // The agent's durable sink (outbox, delivery window, snapshots) over the MQTT transport (drivers/mqtt/transport.ts).
  const { MqttEventSink } = await import('./mqtt-sink.js');
  return new MqttEventSink({
    mqtt: cfg.mqtt,
    outbox: cfg.outbox,
    stateDir: ctx.stateDir,
    deviceId: ctx.deviceId,
    ...(ctx.deviceName ? { deviceName: ctx.deviceName } : {}),
    ...(ctx.swVersion ? { swVersion: ctx.swVersion } : {}),
    log: ctx.log,
    ...(ctx.clock ? { clock: ctx.clock } : {}),
    ...(ctx.env ? { env: ctx.env } : {}),
    ...(ctx.onReconnect ? { onReconnect: () => ctx.onReconnect!('mqtt') } : {}),
    ...(ctx.onDelivered ? { onDelivered: (kind: 'event' | 'snapshot', key: string) => kind === 'event' && ctx.onDelivered!('mqtt', key) } : {}),
  });
});
// The event hub asks each registered sink type in turn; the transports join it here, once.
for (const type of transports.types()) registerSinkType(type, async (cfg: EventsConfig, ctx) => (await transports.get(type))(cfg, ctx));

/** A backend for a runtime name, through the registry. */
export const createBackend: BackendFactory = async (runtime, log) => (await backends.get(runtime))(log.child({ component: `backend-${runtime}` }));

/** The hardware here: board profile (pure probe of /) and the runtimes and accelerators that really load. */
export async function probeHardware(root = '/'): Promise<HardwareInfo> {
  const { probe, detectCapabilities } = await import('../../drivers/probe/index.js');
  const profile = probe(root);
  const capabilities = await detectCapabilities(profile, { packageRoot: packageRoot() });
  return { profile, capabilities };
}

/** What the model host needs from the drivers. */
export function modelHostDeps(o: { hardware?: () => Promise<HardwareInfo>; createBackend?: BackendFactory } = {}): ModelHostDeps {
  return {
    createBackend: o.createBackend ?? createBackend,
    stateful: (inner, pairs) => new StatefulBackend(inner, pairs),
    hardware: o.hardware ?? (() => probeHardware('/')),
    allowedCpus: () => allowedCpus(),
    countFlops: async (file) => {
      // protobufjs and the ONNX schema (a few MB of heap) are loaded only when a variant needs counting.
      const { countFlops } = await import('../../drivers/onnx/flops.js');
      return countFlops(file).total;
    },
  };
}

export function createModelHost(o: ModelHostOptions, deps: Partial<ModelHostDeps> = {}): ModelHost {
  return new ModelHost(o, { ...modelHostDeps(), ...deps });
}

/** Thermal zones (by type, e.g. cpu-thermal), the hottest, and whether the board throttles now, read from sysfs under `root`. */
export function thermalReader(root = '/'): AgentDrivers['thermal'] {
  const sys = new Sysroot(root);
  return () => {
    const t = probeThermal(sys, undefined);
    const zones = t.zones.flatMap((z) => (z.tempC === null ? [] : [{ zone: z.type || z.zone, tempC: z.tempC }]));
    const now = t.throttled?.now;
    return { zones, ...(zones.length ? { tempC: Math.max(...zones.map((z) => z.tempC)) } : {}), ...(now ? { throttled: now.throttled || now.softTempLimit } : {}) };
  };
}

/** The drivers the agent runs with on this machine. */
export function agentDrivers(): AgentDrivers {
  return {
    openSource: async (cfg, o) => (await sources.get(cfg.type))(cfg, o),
    modelHost: (o) => createModelHost(o),
    thermal: thermalReader('/'),
    notifier: (log) => createNotifier({ log }),
    energyPerInferenceJ: (profile: HardwareProfile, accelerator: string, latencyMs: number, flops: number) =>
      energyPerInferenceJ(powerClassOf(profile) ?? 'x86-desktop', latencyMs, flops, acceleratorPowerClass(profile, accelerator)),
  };
}

/** The agent, wired with this machine's drivers. */
export function composeAgent(opts: Omit<AgentOptions, 'drivers'> & { drivers?: Partial<AgentDrivers> }): Agent {
  // The farm (sensor inputs, irrigation) when the config has one; it feeds on the bus and drives the agent's outputs.
  const farm = farmExtensions({ config: opts.loaded.config, stateDir: opts.stateDir, log: opts.log, ...(opts.mqttUrl ? { brokerUrl: opts.mqttUrl } : {}), ...(opts.outputRoots?.sysRoot ? { sysRoot: opts.outputRoots.sysRoot } : {}) });
  return new Agent({ ...opts, extensions: [...(opts.extensions ?? []), ...farm], drivers: { ...agentDrivers(), ...opts.drivers } });
}
