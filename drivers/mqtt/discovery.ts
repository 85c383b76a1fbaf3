import { cameraTopics, type DeviceTopics } from './topics.js';

export interface DiscoveryMessage {
  topic: string;
  payload: string;
}

export interface DiscoveryDevice {
  id: string;
  name?: string | undefined;
  model?: string | undefined;
  swVersion?: string | undefined;
}

/**
 * Home Assistant MQTT discovery (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery): one
 * retained config message per entity at `<discovery prefix>/<component>/<node id>/<object id>/config`, all
 * sharing one `device` block so they group under one device. Entities:
 * - binary_sensor "Connectivity" (device_class connectivity) from the retained status topic;
 * - event "Anomaly" (event entity: the payload must carry `event_type`, built here by a value_template);
 * - sensor "Last anomaly" (label, with the whole event as attributes);
 * - sensor "Anomalies" (count since the agent started, state_class total_increasing) from the stats topic.
 * Every entity is unavailable while the status is offline.
 */
export function discoveryMessages(haPrefix: string, topics: DeviceTopics, dev: DiscoveryDevice): DiscoveryMessage[] {
  const { entity, availability } = entityMaker(haPrefix, topics, dev);
  return [
    entity('binary_sensor', 'connectivity', {
      name: 'Connectivity',
      device_class: 'connectivity',
      entity_category: 'diagnostic',
      state_topic: topics.status,
      value_template: '{{ value_json.state }}',
      payload_on: 'online',
      payload_off: 'offline',
    }),
    ...anomalyEntities(entity, availability, topics.events, '', ''),
    entity('sensor', 'anomaly_count', {
      name: 'Anomalies',
      icon: 'mdi:counter',
      state_topic: topics.stats,
      value_template: '{{ value_json.anomalies }}',
      state_class: 'total_increasing',
      ...availability,
    }),
  ];
}

/**
 * The anomaly entities of one camera under `cameras:` ("Anomaly (north)", "Last anomaly (north)"), on that camera's
 * events topic, in the same device. The count stays one per device (the stats topic).
 */
export function cameraDiscoveryMessages(haPrefix: string, topics: DeviceTopics, dev: DiscoveryDevice, camera: string): DiscoveryMessage[] {
  const { entity, availability } = entityMaker(haPrefix, topics, dev);
  return anomalyEntities(entity, availability, cameraTopics(topics, camera).events, `_${camera}`, ` (${camera})`);
}

type Entity = (component: string, object: string, cfg: Record<string, unknown>) => DiscoveryMessage;

function entityMaker(haPrefix: string, topics: DeviceTopics, dev: DiscoveryDevice): { entity: Entity; availability: Record<string, unknown> } {
  const node = dev.id.replace(/[^A-Za-z0-9_-]/g, '_');
  const device = {
    identifiers: [`edge-agent-${dev.id}`],
    name: dev.name ?? dev.id,
    manufacturer: 'edge-agent',
    ...(dev.model ? { model: dev.model } : {}),
    ...(dev.swVersion ? { sw_version: dev.swVersion } : {}),
  };
  const origin = { name: 'edge-agent', ...(dev.swVersion ? { sw_version: dev.swVersion } : {}) };
  const availability = { availability: [{ topic: topics.status, value_template: '{{ value_json.state }}' }], payload_available: 'online', payload_not_available: 'offline' };
  const entity: Entity = (component, object, cfg) => ({
    topic: `${haPrefix}/${component}/${node}/${object}/config`,
    payload: JSON.stringify({ unique_id: `${node}_${object}`, device, origin, ...cfg }),
  });
  return { entity, availability };
}

function anomalyEntities(entity: Entity, availability: Record<string, unknown>, events: string, idSuffix: string, nameSuffix: string): DiscoveryMessage[] {
  return [
    entity('event', `anomaly${idSuffix}`, {
      name: `Anomaly${nameSuffix}`,
      state_topic: events,
      event_types: ['anomaly'],
      value_template:
        '{{ {"event_type": "anomaly", "id": value_json.id, "rule": value_json.rule, "label": value_json.label, "score": value_json.score, "track_id": value_json.trackId} | tojson }}',
      ...availability,
    }),
    entity('sensor', `last_anomaly${idSuffix}`, {
      name: `Last anomaly${nameSuffix}`,
      icon: 'mdi:alert-decagram',
      state_topic: events,
      value_template: '{{ value_json.label }}',
      json_attributes_topic: events,
      ...availability,
    }),
  ];
}
