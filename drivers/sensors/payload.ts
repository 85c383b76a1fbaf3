/**
 * Reading a value and a timestamp out of a sensor's JSON payload by a dotted path, as gateways publish them:
 * Zigbee2MQTT `zigbee2mqtt/<device>` -> {"soil_moisture": 41, "last_seen": "2026-06-15T06:00:00.000Z"} (last_seen
 * only when enabled), ESPHome `<node>/sensor/<name>/state` -> a bare number, The Things Stack uplinks ->
 * {"received_at": "...", "uplink_message": {"decoded_payload": {"moisture": 41.5}}}.
 */
export function atPath(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const key of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = Array.isArray(cur) && /^\d+$/.test(key) ? cur[Number(key)] : (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/** Epoch ms from a number (seconds below 1e12, else ms) or an ISO 8601 string; undefined when neither. */
export function parseTimestamp(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v < 1e12 ? v * 1000 : v;
  if (typeof v === 'string' && v.trim() !== '') {
    if (/^\d+(\.\d+)?$/.test(v.trim())) return parseTimestamp(Number(v));
    const t = Date.parse(v);
    return Number.isNaN(t) ? undefined : t;
  }
  return undefined;
}

export type ParsedPayload = { ok: true; value: number; atMs: number | undefined } | { ok: false; reason: string };

/**
 * The value at `valuePath` (or the whole payload when no path: ESPHome's bare numbers), and the timestamp at
 * `timestampPath` when given. Booleans count as 1/0 (a rain sensor's "rain": true).
 */
export function parsePayload(text: string, valuePath: string | undefined, timestampPath: string | undefined): ParsedPayload {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    const n = Number(text.trim());
    if (valuePath === undefined && text.trim() !== '' && Number.isFinite(n)) return { ok: true, value: n, atMs: undefined };
    return { ok: false, reason: 'payload is not JSON' };
  }
  const raw = valuePath === undefined ? doc : atPath(doc, valuePath);
  const value = typeof raw === 'boolean' ? (raw ? 1 : 0) : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
  if (typeof value !== 'number' || !Number.isFinite(value)) return { ok: false, reason: `no number at "${valuePath ?? '(payload)'}"` };
  if (timestampPath === undefined) return { ok: true, value, atMs: undefined };
  const atMs = parseTimestamp(atPath(doc, timestampPath));
  if (atMs === undefined) return { ok: false, reason: `no timestamp at "${timestampPath}"` };
  return { ok: true, value, atMs };
}
