import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * edge-agent's application id for machine-id hashing (a fixed random 128-bit value, made once for this app with
 * `systemd-id128 new`). Changing it changes every device's id.
 */
export const APP_ID = 'ce4f7fee57094ea59cd2924e37756b46';

/**
 * A stable device id that differs between devices cloned from one SD card image (each gets a new /etc/machine-id on
 * first boot) and does not reveal the machine id itself.
 *
 * machine-id(5): "This ID uniquely identifies the host. It should be considered "confidential", and must not be
 * exposed in untrusted environments [...]. If a stable unique identifier that is tied to the machine is needed for
 * some application, the machine ID or any part of it must not be used directly. Instead the machine ID should be
 * hashed with a cryptographic, keyed hash function, using a fixed, application-specific key."
 *
 * Computed like systemd's sd_id128_get_machine_app_specific(3) (src/libsystemd/sd-id128/sd-id128.c,
 * sd_id128_get_app_specific): HMAC-SHA256 keyed with the 16 machine-id bytes over the 16 app-id bytes, first 16
 * bytes of the digest, marked as a version 4 / variant 1 UUID. The result equals
 * `systemd-id128 machine-id --app-specific=<APP_ID>` (a test checks it against the real tool). Returned as
 * "edge-" plus the first 12 hex digits: short enough for MQTT client ids and topic segments.
 *
 * Returns undefined when there is no valid machine id (containers without one, "uninitialized" on first boot);
 * the caller falls back to the hostname.
 */
export function deviceIdFromMachineId(root = '/', appId = APP_ID): string | undefined {
  const key = `${root}\0${appId}`;
  if (!memo.has(key)) {
    const full = appSpecificMachineId(root, appId);
    memo.set(key, full ? `edge-${full.slice(0, 12)}` : undefined);
  }
  return memo.get(key);
}

/** The machine id does not change while the process runs (it is read once per root and app id). */
const memo = new Map<string, string | undefined>();

/** The full 32-hex-digit app-specific id (systemd's format), or undefined without a valid /etc/machine-id. */
export function appSpecificMachineId(root = '/', appId = APP_ID): string | undefined {
  let text: string;
  try {
    text = readFileSync(join(root, 'etc', 'machine-id'), 'utf8').trim();
  } catch {
    return undefined;
  }
  if (!/^[0-9a-f]{32}$/.test(text)) return undefined;
  const digest = createHmac('sha256', Buffer.from(text, 'hex')).update(Buffer.from(appId, 'hex')).digest();
  const id = Buffer.from(digest.subarray(0, 16));
  // id128_make_v4_uuid(): version 4 in the high nibble of byte 6, RFC 4122 variant in byte 8.
  id[6] = (id[6]! & 0x0f) | 0x40;
  id[8] = (id[8]! & 0x3f) | 0x80;
  return id.toString('hex');
}
