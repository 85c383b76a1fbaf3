import * as fsp from 'node:fs/promises';
import type { IClientOptions } from 'mqtt';
import { AgentError } from '../../agent/errors.js';
import type { Logger } from '../../agent/log.js';
import type { MqttConfig } from '../../agent/config/sections/events.js';
import { redactUrl } from './explain.js';
import { readConfigFile, readPassword, type SecretFs } from './secrets.js';

export interface ResolvedConnection {
  urls: string[];
  clientId: string;
  /** mqtt.js options, without the Last Will (the sink adds it). */
  options: IClientOptions;
  caFile?: string | undefined;
}

/**
 * Turns `events.mqtt` into mqtt.js options: broker URL(s), client id, keepalive, persistent session
 * (clean: false), credentials from a file or the environment, and TLS (CA, client certificate and key).
 * Certificate checks stay on unless `tls.insecure` is set, which is logged as a warning at every start.
 */
export async function resolveConnection(
  cfg: MqttConfig,
  deviceId: string,
  log: Logger,
  deps: { fs?: SecretFs; env?: NodeJS.ProcessEnv } = {},
): Promise<ResolvedConnection> {
  const fs = deps.fs ?? fsp;
  const urls = Array.isArray(cfg.url) ? cfg.url : [cfg.url];
  const parsed = urls.map((u) => {
    try {
      return new URL(u);
    } catch {
      throw new AgentError('CONFIG_INVALID', `events.mqtt.url: "${u}" is not a valid URL`, { fix: 'write it as mqtt://host:1883 or mqtts://host:8883' });
    }
  });
  for (const u of parsed) {
    if (u.password) log.warn({ url: redactUrl(u.toString()) }, 'events.mqtt.url carries a password inline: move it to events.mqtt.passwordFile (chmod 600) or passwordEnv');
  }
  const clientId = cfg.clientId ?? `edge-agent-${deviceId}`;
  const options: IClientOptions = {
    clientId,
    keepalive: cfg.keepaliveS,
    clean: false,
    protocolVersion: 4,
    connectTimeout: 10_000,
    // The sink reconnects itself (with backoff) and resends from the outbox.
    reconnectPeriod: 0,
    queueQoSZero: false,
  };
  const first = parsed[0]!;
  options.protocol = first.protocol.replace(':', '') as 'mqtt' | 'mqtts';
  options.host = first.hostname;
  options.port = Number(first.port || (options.protocol === 'mqtts' ? 8883 : 1883));
  if (parsed.length > 1) {
    options.servers = parsed.map((u) => {
      const protocol = u.protocol.replace(':', '') as 'mqtt' | 'mqtts';
      return { host: u.hostname, port: Number(u.port || (protocol === 'mqtts' ? 8883 : 1883)), protocol };
    });
  }
  const username = cfg.username ?? (first.username ? decodeURIComponent(first.username) : undefined);
  if (username !== undefined) options.username = username;
  const password = (await readPassword(fs, cfg, deps.env ?? process.env, log)) ?? (first.password ? decodeURIComponent(first.password) : undefined);
  if (password !== undefined) options.password = password;
  if (password !== undefined && username === undefined) {
    throw new AgentError('CONFIG_INVALID', 'events.mqtt: a password is set but no username', { fix: 'set events.mqtt.username' });
  }

  const usesTls = parsed.some((u) => u.protocol === 'mqtts:');
  const tls = cfg.tls;
  if (tls && !usesTls) log.warn({ urls: urls.map(redactUrl) }, 'events.mqtt.tls is set but no broker URL is mqtts://: the connection is NOT encrypted');
  if (tls) {
    if (Boolean(tls.cert) !== Boolean(tls.key)) {
      throw new AgentError('CONFIG_INVALID', `events.mqtt.tls: ${tls.cert ? 'cert' : 'key'} is set without ${tls.cert ? 'key' : 'cert'}`, { fix: 'give both the client certificate (tls.cert) and its private key (tls.key)' });
    }
    if (tls.ca) options.ca = await readConfigFile(fs, tls.ca, 'events.mqtt.tls.ca', { secret: false, log });
    if (tls.cert) options.cert = await readConfigFile(fs, tls.cert, 'events.mqtt.tls.cert', { secret: false, log });
    if (tls.key) options.key = await readConfigFile(fs, tls.key, 'events.mqtt.tls.key', { secret: true, log });
  }
  options.rejectUnauthorized = !(tls?.insecure ?? false);
  if (tls?.insecure && usesTls) {
    log.warn({ urls: urls.map(redactUrl) }, 'events.mqtt.tls.insecure is true: the broker certificate is NOT verified, anyone on the network path can impersonate the broker; set tls.ca instead');
  }
  return { urls, clientId, options, caFile: tls?.ca };
}
