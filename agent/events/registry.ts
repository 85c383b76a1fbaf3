import * as path from 'node:path';
import { AgentError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Clock } from '../types.js';
import { mqttConfigSchema, type EventsConfig, type MqttConfig } from '../config/sections/events.js';
import { EventHub } from './hub.js';
import { resolveStateDir } from '../paths.js';
import { JsonlSink } from './jsonl-sink.js';
import type { AgentEventSink } from './types.js';

export interface EventSinkContext {
  deviceId: string;
  deviceName?: string;
  /** Where the outbox lives (`<stateDir>/outbox`): --state-dir, else config stateDir, else defaultStateDir(). */
  stateDir: string;
  log: Logger;
  clock?: Clock;
  swVersion?: string;
  env?: NodeJS.ProcessEnv;
  /** A transport that lost its connection and has it back (counted as a sink restart). */
  onReconnect?: (sink: string) => void;
  /** A transport's broker acknowledged an event (it left the outbox). */
  onDelivered?: (sink: string, eventId: string) => void;
}

/** Command-line overrides of `events`: `run --mqtt URL` and `run --events-out FILE`. */
export interface EventOverrides {
  mqttUrl?: string | undefined;
  eventsOut?: string | undefined;
}

/** Builds one sink from the effective events config, or returns undefined when that sink is not configured. */
export type SinkFactory = (cfg: EventsConfig, ctx: EventSinkContext) => Promise<AgentEventSink | undefined>;

const factories = new Map<string, SinkFactory>();

/** Sink types, in the order events are handed to them. */
export function registerSinkType(type: string, factory: SinkFactory): void {
  factories.set(type, factory);
}

registerSinkType('jsonl', async (cfg, ctx) => (cfg.jsonl ? new JsonlSink({ file: cfg.jsonl, log: ctx.log }) : undefined));
// Transports that are drivers (MQTT) are registered by the composition root (agent/app/compose.ts).

/** The `events` config with the command-line overrides applied (--mqtt replaces the broker URL(s) only). */
export function applyEventOverrides(cfg: EventsConfig, o: EventOverrides): EventsConfig {
  let mqtt: MqttConfig | undefined = cfg.mqtt;
  if (o.mqttUrl !== undefined) {
    const parsed = mqttConfigSchema.safeParse({ ...(cfg.mqtt ?? {}), url: o.mqttUrl });
    if (!parsed.success) {
      throw new AgentError('USAGE', `--mqtt ${o.mqttUrl}: not an mqtt:// or mqtts:// URL`, { fix: 'write it as mqtt://host:1883 or mqtts://host:8883' });
    }
    mqtt = parsed.data;
  }
  return { ...cfg, ...(o.eventsOut !== undefined ? { jsonl: o.eventsOut } : {}), ...(mqtt ? { mqtt } : {}) };
}

/**
 * Creates the event fan-out for `events` (+ CLI overrides): a JSONL sink when `events.jsonl`/--events-out is
 * set, the MQTT sink (with its outbox) when `events.mqtt`/--mqtt is. Call `start()` on the hub, then
 * `emit(ev, evidence?)` per anomaly; `setStatus()` for the retained status; `publisher()` for relay outputs.
 */
export async function createEventHub(cfg: EventsConfig, ctx: EventSinkContext, overrides: EventOverrides = {}): Promise<EventHub> {
  const effective = applyEventOverrides(cfg, overrides);
  const sinks: AgentEventSink[] = [];
  for (const factory of factories.values()) {
    const s = await factory(effective, ctx);
    if (s) sinks.push(s);
  }
  return new EventHub(sinks, ctx.log);
}

/**
 * Default state folder: $STATE_DIRECTORY (systemd StateDirectory=), /var/lib/edge-agent when run as a
 * service (systemd sets INVOCATION_ID), else ./state under the working folder.
 */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): string {
  return resolveStateDir({ env, cwd });
}
