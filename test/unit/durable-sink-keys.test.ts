import { describe, expect, it } from 'vitest';
import { outboxKey, parseOutboxKey } from '../../agent/events/durable-sink.js';
import { uuidv7 } from '../../agent/events/uuidv7.js';
import { configSchema } from '../../agent/config/schema.js';

describe('the camera in an outbox key', () => {
  const id = uuidv7();
  it('the single-camera form keeps the bare event id (as outboxes written before cameras existed)', () => {
    expect(outboxKey(id, undefined)).toBe(id);
    expect(outboxKey(id, 'default')).toBe(id);
    expect(parseOutboxKey(id)).toEqual({ eventId: id, camera: undefined });
  });
  it('a named camera round-trips', () => {
    expect(outboxKey(id, 'gate-2')).toBe(`gate-2/${id}`);
    expect(parseOutboxKey(outboxKey(id, 'gate-2'))).toEqual({ eventId: id, camera: 'gate-2' });
  });
  it('a camera name cannot hold the separator (the config refuses it, naming the MQTT topic level)', () => {
    const r = configSchema.safeParse({ cameras: { 'a/b': { source: { type: 'v4l2', device: '/dev/video0' } } }, model: { manifest: 'm' }, rules: [], outputs: {} });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toMatch(/MQTT topic level/);
  });
});
