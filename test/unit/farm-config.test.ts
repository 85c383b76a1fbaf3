import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { checkConfigText } from '../../agent/config/load.js';

const repo = resolve(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'farm-config-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const demo = readFileSync(join(repo, 'config', 'farm-demo.yaml'), 'utf8');
type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function problems(edit: (d: Doc) => void): string[] {
  const d = parse(demo) as Doc;
  edit(d);
  const res = checkConfigText(stringify(d));
  return res.problems.map((p) => `${p.path}: ${p.message}`);
}

describe('farm config (sensors, irrigation)', () => {
  it('the farm demo config is valid', () => {
    const res = checkConfigText(demo);
    expect(res.problems).toEqual([]);
    expect(res.config!.irrigation!.zones['zone-1']).toMatchObject({ valve: 'valve-1', maxOnS: 300, belowPct: 30 });
    expect(res.config!.sensors!.inputs['soil/zone-1']).toMatchObject({ type: 'mqtt', valuePath: 'moisture' });
  });

  it('a zone naming a sensor no input provides', () => {
    expect(problems((d) => (d.irrigation.zones['zone-2'].sensor = 'soil/zone-9'))).toEqual([
      'irrigation.zones.zone-2.sensor: no sensor input provides "soil/zone-9" (provided: soil/zone-1, soil/zone-2, soil/zone-3, soil/zone-4, rain); add it under sensors.inputs',
    ]);
    expect(problems((d) => (d.irrigation.rain.sensor = 'rain-gauge'))[0]).toMatch(/^irrigation\.rain\.sensor: no sensor input provides "rain-gauge"/);
  });

  it('a valve with no max on-time, or one longer than its output allows', () => {
    expect(problems((d) => delete d.irrigation.zones['zone-3'].maxOnS)).toEqual(['irrigation.zones.zone-3.maxOnS: required: every valve needs a max on-time (seconds one watering may last)']);
    expect(problems((d) => (d.irrigation.zones['zone-3'].maxOnS = 900))).toEqual([
      'irrigation.zones.zone-3.maxOnS: maxOnS 900 is longer than output "valve-3" allows (maxOnMs 600000); raise the output\'s maxOnMs or lower maxOnS',
    ]);
    expect(problems((d) => (d.irrigation.zones['zone-3'].valve = 'valve-7'))[0]).toMatch(/^irrigation\.zones\.zone-3\.valve: no output named "valve-7"/);
  });

  it('a schedule window that never opens', () => {
    expect(problems((d) => (d.irrigation.schedule[1] = { from: '19:00', to: '19:00' }))).toEqual(['irrigation.schedule[1].to: window 19:00-19:00 never opens (zero length); give a later "to"']);
    expect(problems((d) => (d.irrigation.zones['zone-1'].schedule = [{ from: '05:00', to: '06:00', days: [] }]))).toEqual([
      'irrigation.zones.zone-1.schedule[0].days: window never opens (no days); name at least one day or leave days out',
    ]);
  });

  it('mqtt sensors without a broker, an unknown time zone', () => {
    expect(problems((d) => delete d.sensors.broker)).toEqual(['sensors.broker: mqtt sensors need a broker: set sensors.broker.url or events.mqtt.url']);
    expect(problems((d) => (d.irrigation.timeZone = 'Europe/Atlantis'))[0]).toMatch(/^irrigation\.timeZone: unknown time zone "Europe\/Atlantis"/);
  });

  it('edge-agent check-config: the problem with its path and line, exit 78', () => {
    const d = parse(demo) as Doc;
    d.model.manifest = join(repo, 'models', 'conveyor-demo', 'manifest.json');
    d.source = { type: 'file', path: join(repo, 'package.json') };
    d.irrigation.zones['zone-2'].sensor = 'soil/zone-9';
    const file = join(work, 'farm.yaml');
    writeFileSync(file, stringify(d));
    const r = spawnSync(process.execPath, [join(repo, 'bin', 'edge-agent.js'), 'check-config', file], { encoding: 'utf8' });
    expect(r.status).toBe(78);
    expect(r.stdout + r.stderr).toMatch(/farm\.yaml:\d+: irrigation\.zones\.zone-2\.sensor: no sensor input provides "soil\/zone-9"/);
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
  });
});
