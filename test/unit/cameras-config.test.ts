import { describe, expect, it } from 'vitest';
import { checkConfigText } from '../../agent/config/load.js';
import { configSchema } from '../../agent/config/schema.js';
import { cameraSpecs } from '../../agent/config/sections/cameras.js';
import { cameraTopics, deviceTopics } from '../../drivers/mqtt/topics.js';

const v4l2 = (n: number) => ({ type: 'v4l2', device: `/dev/video${n}` });
const rule = (name: string, output: string) => ({ name, type: 'anomaly', labels: { defect: 0.5 }, actions: [{ type: 'pulse', output, widthMs: 100 }] });

describe('cameras: in the config', () => {
  it('the single source: form is one camera "default" with the top-level rules', () => {
    const cfg = configSchema.parse({ source: v4l2(0), model: { manifest: 'm' }, rules: [rule('r', 'gate')], outputs: { gate: { driver: { type: 'dry-run' } } } });
    expect(cameraSpecs(cfg).map((c) => [c.name, c.model, c.rules.map((r) => r.name), c.outputs])).toEqual([['default', 'default', ['r'], ['gate']]]);
  });

  it('list and map forms give the same cameras; a camera without rules takes the top-level ones; source mirrors the first', () => {
    const outputs = { a: { driver: { type: 'dry-run' } }, b: { driver: { type: 'dry-run' } } };
    const list = configSchema.parse({ cameras: [{ name: 'north', source: v4l2(0) }, { name: 'south', source: v4l2(1), rules: [rule('s', 'b')] }], model: { manifest: 'm' }, rules: [rule('n', 'a')], outputs });
    const map = configSchema.parse({ cameras: { north: { source: v4l2(0) }, south: { source: v4l2(1), rules: [rule('s', 'b')] } }, model: { manifest: 'm' }, rules: [rule('n', 'a')], outputs });
    const shape = (c: typeof list) => cameraSpecs(c).map((x) => [x.name, x.source, x.rules.map((r) => r.name), x.outputs]);
    expect(shape(list)).toEqual(shape(map));
    expect(shape(list).map((x) => [x[0], x[2], x[3]])).toEqual([
      ['north', ['n'], ['a']],
      ['south', ['s'], ['b']],
    ]);
    expect(list.source).toEqual(list.cameras && cameraSpecs(list)[0]!.source);
  });

  it('an output two cameras use is allowed with shared: true', () => {
    const text = (shared: boolean) =>
      `cameras:\n  a: { source: { type: v4l2, device: /dev/video0 } }\n  b: { source: { type: v4l2, device: /dev/video1 } }\nmodel: { manifest: m }\nrules:\n  - { name: r, type: anomaly, labels: { defect: 0.5 }, actions: [{ type: pulse, output: gate, widthMs: 100 }] }\noutputs:\n  gate: { driver: { type: dry-run }${shared ? ', shared: true' : ''} }\n`;
    expect(checkConfigText(text(true)).problems).toEqual([]);
    expect(checkConfigText(text(false)).problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
      'cameras.b: output "gate" is used by cameras "a" and "b": set `shared: true` on outputs.gate if both may drive it, or give each camera its own output',
    ]);
  });

  it('source: and cameras: together, or neither, are refused with the fix', () => {
    const both = checkConfigText('source: { type: v4l2, device: /dev/video0 }\ncameras:\n  a: { source: { type: v4l2, device: /dev/video1 } }\nmodel: { manifest: m }\n').problems;
    expect(both.map((p) => p.path)).toEqual(['cameras']);
    expect(both[0]!.message).toMatch(/move `source:` into a camera/);
    expect(checkConfigText('model: { manifest: m }\n').problems.map((p) => p.path)).toEqual(['source']);
  });
});

describe('MQTT topics per camera', () => {
  const t = deviceTopics('edge-agent/', 'dev1');
  it('one camera: unchanged', () => {
    expect(cameraTopics(t, undefined).events).toBe('edge-agent/dev1/events');
    expect(cameraTopics(t, 'default').snapshot('x')).toBe('edge-agent/dev1/snapshot/x');
  });
  it('several: the camera is a topic level under the device', () => {
    expect(cameraTopics(t, 'north').events).toBe('edge-agent/dev1/north/events');
    expect(cameraTopics(t, 'north').snapshot('x')).toBe('edge-agent/dev1/north/snapshot/x');
  });
});
