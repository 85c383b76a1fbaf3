/**
 * The farm in the agent: the configured sensor inputs (MQTT topics, IIO ADC channels) feed a SensorStore; the
 * irrigation controller takes every inferred frame's detections from the bus `decision` message and drives the
 * valves through the agent's OutputBank (whose safety layer enforces each valve's max on-time, and closes every
 * valve on stop, crash or stall). A sensor that goes silent is reported on the bus as `degraded` (so /healthz and
 * the MQTT status list it) with a warning in the log, and cleared when it publishes again.
 *
 * This file sits in agent/app/, the composition root: it is the only farm code that names concrete sensor drivers.
 * The agent starts it after its outputs and stops it before them (AgentExtension in agent/agent.ts).
 */
import { dirname, join, resolve } from 'node:path';
import type { Logger } from '../log.js';
import type { AgentConfig } from '../config/schema.js';
import type { Problem } from '../config/issues.js';
import type { EventBus } from '../bus.js';
import type { AgentExtension } from '../agent.js';
import { IrrigationController, type Decision } from '../irrigation/index.js';
import type { SensorInput } from '../sensors/input.js';
import { sensorStoreFor, type SensorStore } from '../sensors/store.js';
import { loadManifest } from '../model/manifest.js';
import { messageOf } from '../errors.js';
import { IioSensor, sensorFileProblems, sensorInputs } from '../../drivers/sensors/index.js';

export interface FarmWiringOptions {
  config: Pick<AgentConfig, 'sensors' | 'irrigation' | 'events'>;
  stateDir: string;
  log: Logger;
  /** Broker for MQTT sensors when sensors.broker is not set (run --mqtt; the demo's local broker). */
  brokerUrl?: string;
  /** Root of /sys for IIO ADC channels (tests: a sysroot folder). */
  sysRoot?: string;
  /** Wall clock, epoch ms (the demo: its simulated clock). */
  now?: () => number;
  /** How often silent sensors are looked for, ms (default 1000). 0: only on frames. */
  checkEveryMs?: number;
  /** Every decision the controller takes (the demo prints the day from them). */
  onDecisions?: (decisions: Decision[]) => void;
}

/** What the agent hands an extension at start. */
export type FarmStartContext = Parameters<AgentExtension['start']>[0];

export class FarmWiring implements AgentExtension {
  readonly store: SensorStore;
  readonly inputs: SensorInput[];
  controller: IrrigationController | undefined;
  private readonly log: Logger;
  private readonly now: () => number;
  private bus: EventBus | undefined;
  private unsubscribe: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private camera: string | undefined;
  private pending: { detections: Parameters<IrrigationController['step']>[0]; atMs: number } | undefined;
  private running: Promise<void> | undefined;
  private startedAt = 0;
  private clock: (() => number) | undefined;
  /** Sensors now reported silent, with the reason put on the bus. */
  private readonly silent = new Map<string, string>();
  /** Frames whose detections were replaced by a newer frame before irrigation took them (latest wins). */
  dropped = 0;

  constructor(private readonly opts: FarmWiringOptions) {
    this.log = opts.log.child({ component: 'farm' });
    // Fixed here (the store and the controller take it), followed from start() on: a replay's media clock when the
    // agent times its outputs on it, so valves, windows and sensor ages agree.
    this.now = () => (this.clock ?? Date.now)();
    this.clock = opts.now;
    const sensors = opts.config.sensors ?? { maxAgeS: 900, inputs: {} };
    this.store = sensorStoreFor(sensors, this.now);
    this.inputs = sensorInputs(sensors, { brokerUrl: opts.brokerUrl ?? [opts.config.events.mqtt?.url ?? []].flat()[0], sysRoot: opts.sysRoot, log: opts.log });
    this.camera = opts.config.irrigation?.camera;
  }

  async start(ctx: FarmStartContext): Promise<void> {
    this.bus = ctx.bus;
    this.clock ??= ctx.now;
    this.startedAt = this.now();
    for (const input of this.inputs) {
      // An ADC channel that is not there is a config error (exit 78); a broker that is down is not: the input
      // reconnects on its own and its sensors are reported silent until readings arrive.
      if (input instanceof IioSensor) await input.start(this.store);
      else await startWithin(input, this.store, 5_000, (err) => this.log.warn({ input: input.describe(), reason: err }, 'sensor input not connected yet; it keeps trying'));
    }
    const irr = this.opts.config.irrigation;
    if (irr) {
      this.controller = new IrrigationController(irr, { store: this.store, valves: ctx.outputs, now: this.now, ledgerFile: join(this.opts.stateDir, 'irrigation.json'), log: this.opts.log });
      this.controller.start();
      this.unsubscribe = ctx.bus.on('decision', 'irrigation', (p) => {
        this.camera ??= p.camera;
        if (p.camera !== this.camera) return;
        if (this.pending) this.dropped++;
        this.pending = { detections: p.detections, atMs: p.captureTs };
        if (!this.running) {
          const run = this.drain();
          this.running = run;
          void run.then(() => {
            if (this.running === run) this.running = undefined;
          });
        }
      });
    }
    this.checkSilent();
    const every = this.opts.checkEveryMs ?? 1000;
    if (every > 0) this.timer = setInterval(() => this.checkSilent(), every).unref();
    this.log.info({ inputs: this.inputs.map((i) => i.describe()), zones: Object.keys(irr?.zones ?? {}), camera: this.camera ?? '(first seen)' }, 'farm started');
  }

  /** Resolves once the latest frame handed over has been through the controller (the demo waits on it). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Steps the controller with the latest frame, one at a time; a frame arriving meanwhile replaces the one waiting. */
  private async drain(): Promise<void> {
    while (this.pending && this.controller) {
      const { detections, atMs } = this.pending;
      this.pending = undefined;
      this.checkSilent();
      try {
        const decisions = await this.controller.step(detections, atMs);
        if (decisions.length) this.opts.onDecisions?.(decisions);
      } catch (err) {
        this.log.error({ err }, 'irrigation step failed; the next frame tries again');
      }
    }
  }

  /** Puts a sensor that stopped publishing (or never did, past its maximum age) on the bus, and takes it off again. */
  checkSilent(): void {
    const names = this.inputs.flatMap((i) => [...i.provides]);
    const fallback = this.opts.config.irrigation?.sensorFallback ?? 'none';
    for (const name of names) {
      const s = this.store.get(name);
      const maxS = Math.round(this.store.maxAgeMs(name) / 1000);
      let reason: string | undefined;
      if (s.state === 'stale') reason = `no reading for ${Math.round(s.ageMs / 1000)} s (maxAgeS ${maxS})`;
      else if (s.state === 'unknown' && this.now() - this.startedAt > this.store.maxAgeMs(name)) reason = `no reading since start (maxAgeS ${maxS})`;
      if (reason) {
        const zones = this.zonesOf(name);
        const full = `${reason}${zones.length ? `; ${zones.join(', ')} ${fallback === 'none' ? 'will not water' : `water${zones.length === 1 ? 's' : ''} on the camera alone`}` : ''}`;
        if (this.silent.has(name)) continue;
        this.silent.set(name, full);
        this.log.warn({ sensor: name, zones, fallback }, `sensor ${name} silent: ${full}`);
        this.bus?.emit('degraded', { component: `sensor ${name}`, reason: full });
      } else if (this.silent.delete(name)) {
        this.log.info({ sensor: name }, `sensor ${name} reports again`);
        this.bus?.emit('degraded', { component: `sensor ${name}`, reason: null });
      }
    }
  }

  private zonesOf(sensor: string): string[] {
    const irr = this.opts.config.irrigation;
    if (!irr) return [];
    if (irr.rain?.sensor === sensor) return Object.keys(irr.zones);
    return Object.entries(irr.zones).filter(([, z]) => z.sensor === sensor).map(([n]) => n);
  }

  /** Before the outputs stop: no new watering, the cut-short part of a running one refunded, inputs closed. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.pending = undefined;
    await this.idle();
    this.controller?.stop();
    for (const input of [...this.inputs].reverse()) await input.stop().catch((err) => this.log.warn({ reason: messageOf(err) }, 'sensor input stop failed'));
    this.log.info({ status: this.controller?.status() }, 'farm stopped');
  }
}

async function startWithin(input: SensorInput, store: SensorStore, ms: number, onLate: (reason: string) => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((res) => {
    timer = setTimeout(() => {
      onLate(`not connected after ${ms} ms`);
      res();
    }, ms);
  });
  const started = input.start(store).catch((err: unknown) => onLate(messageOf(err)));
  await Promise.race([started, late]);
  clearTimeout(timer);
}

/** The farm extension a config asks for (sensors or irrigation), or none. */
export function farmExtensions(o: { config: AgentConfig; stateDir: string; log: Logger; brokerUrl?: string; sysRoot?: string }): AgentExtension[] {
  if (!o.config.irrigation && !Object.keys(o.config.sensors?.inputs ?? {}).length) return [];
  return [new FarmWiring(o)];
}

/**
 * What check-config can say about the farm beyond the schema: IIO ADC channels that do not exist under `sysRoot`,
 * and zone labels the model does not have (a zone waiting for a label it will never see never waters).
 */
export function farmConfigProblems(config: AgentConfig, configFile: string, sysRoot = '/'): Problem[] {
  const out: Problem[] = [];
  if (config.sensors) out.push(...sensorFileProblems(config.sensors, sysRoot));
  if (config.irrigation) {
    let labels: string[] | undefined;
    try {
      labels = loadManifest(resolve(dirname(configFile), config.model.manifest)).labels;
    } catch {
      labels = undefined; // the manifest's own problems are reported by the config check
    }
    if (labels) {
      for (const [zone, z] of Object.entries(config.irrigation.zones)) {
        for (const label of Object.keys(z.camera.labels)) {
          if (!labels.includes(label)) out.push({ path: `irrigation.zones.${zone}.camera.labels.${label}`, message: `the model (${config.model.manifest}) has no label "${label}" (its labels: ${labels.join(', ')}); use one of them` });
        }
      }
    }
  }
  return out;
}
