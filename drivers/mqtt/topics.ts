/** The topics one device publishes under `<prefix>/<device>/`. */
export interface DeviceTopics {
  base: string;
  /** One JSON message per anomaly, QoS 1, not retained. */
  events: string;
  /** Retained JSON {state: online|offline, ...}; the Last Will sets it to offline. */
  status: string;
  /** Retained JSON counters (anomalies, queued, dropped), at most every few seconds. */
  stats: string;
  /** JPEG of the frame behind an event, QoS 1. */
  snapshot(eventId: string): string;
}

export function deviceTopics(prefix: string, device: string): DeviceTopics {
  const base = `${prefix.replace(/\/+$/, '')}/${device}`;
  return {
    base,
    events: `${base}/events`,
    status: `${base}/status`,
    stats: `${base}/stats`,
    snapshot: (id) => `${base}/snapshot/${id}`,
  };
}

/**
 * Where one camera's events and snapshots go: unchanged for the single `source:` form (camera absent or "default"),
 * `<prefix>/<device>/<camera>/events` and `.../<camera>/snapshot/<id>` for a camera under `cameras:` (status and stats
 * stay per device). Subscribers of one camera's device keep working; `<prefix>/<device>/+/events` gets every camera.
 */
export function cameraTopics(t: DeviceTopics, camera: string | undefined): Pick<DeviceTopics, 'events' | 'snapshot'> {
  if (!camera || camera === 'default') return { events: t.events, snapshot: t.snapshot };
  const base = `${t.base}/${camera}`;
  return { events: `${base}/events`, snapshot: (id) => `${base}/snapshot/${id}` };
}
