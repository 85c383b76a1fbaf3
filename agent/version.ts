import { readFileSync } from 'node:fs';
import { arch, platform } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from './paths.js';

/**
 * The agent's version (package.json "version"), read once. One source for `edge-agent --version`, doctor, Home
 * Assistant discovery's `sw_version`, the MQTT client's User-Agent / clientId suffix and the build-info metric.
 */
export const version: string = readVersion();

function readVersion(): string {
  try {
    const v = (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: unknown }).version;
    return typeof v === 'string' && v !== '' ? v : '0.0.0-unknown';
  } catch {
    return '0.0.0-unknown';
  }
}

/** `edge-agent/0.1.0 (linux arm64; node 20.19.0)`: for HTTP User-Agent headers and MQTT user properties. */
export function userAgent(): string {
  return `edge-agent/${version} (${platform()} ${arch()}; node ${process.versions.node})`;
}
