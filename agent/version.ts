import { arch, platform } from 'node:os';
import { packageVersion } from './paths.js';

/**
 * The agent's version (package.json "version"), read once. One source for `edge-agent --version`, doctor, Home
 * Assistant discovery's `sw_version`, the MQTT status payload and the build-info metric. (The MQTT client speaks 3.1.1, which
 * has no user properties: its default client id stays `edge-agent-<deviceId>`, stable across upgrades.)
 */
export const version: string = packageVersion();

/** `edge-agent/0.1.0 (linux arm64; node 20.19.0)`: for HTTP User-Agent headers and MQTT user properties. */
export function userAgent(): string {
  return `edge-agent/${version} (${platform()} ${arch()}; node ${process.versions.node})`;
}
