import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCamerasDemo } from '../../agent/cli/commands/demo-cameras.js';
import { silentLogger } from '../../agent/log.js';
import { loadConfigFile } from '../../agent/config/load.js';
import { cameraSpecs } from '../../agent/config/sections/cameras.js';
import { loadManifest } from '../../agent/model/manifest.js';
import { packageRoot } from '../../agent/paths.js';

const dir = mkdtempSync(join(tmpdir(), 'demo-cameras-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('edge-agent demo --cameras 4', () => {
  it('runs the clip as four cameras on one model host with one session, and counts frames and events per camera', async () => {
    const r = await runCamerasDemo({ n: 4, stateDir: dir, log: silentLogger, simulateOutputs: join(dir, 'outputs.jsonl'), eventsOut: join(dir, 'events.jsonl') });
    expect(existsSync(r.config)).toBe(true);
    expect(cameraSpecs(loadConfigFile(r.config).config).map((c) => [c.name, c.model])).toEqual([
      ['cam1', 'default'],
      ['cam2', 'default'],
      ['cam3', 'default'],
      ['cam4', 'default'],
    ]);
    // One model host and one session that the four cameras share. The known-answer check runs on that session; when
    // the variant chosen was derived from a reference (int8 from fp32), the reference is opened once for its answer
    // and closed before the cameras start.
    expect(r.hosts).toBe(1);
    expect(r.sessionsOpen).toBe(1);
    // On a busy machine the walk may pass over a variant as too slow first: it counts what it tried, with the reason.
    const variants = loadManifest(join(packageRoot(), 'models', 'conveyor-demo')).variants;
    const opensOf = (name: string) => (variants.find((v) => v.name === name)!.reference ? 2 : 1);
    const running = r.summary.model.variant;
    const walked = r.passedOver.reduce((n, v) => n + opensOf(v), 0);
    // A variant passed over and then run after all (every later one measured slower) is opened once more, unverified.
    expect(r.backendsOpened).toBe(walked + (r.passedOver.includes(running) ? 1 : opensOf(running)));
    expect(r.summary.modelHosts).toBe(1);
    const cams = r.summary.cameras;
    expect(Object.keys(cams)).toEqual(['cam1', 'cam2', 'cam3', 'cam4']);
    // Every frame of the clip (read in full) on every camera, and the same defects seen by each.
    const frames = Object.values(cams).map((c) => c.frames);
    expect(frames[0]).toBeGreaterThan(100);
    expect(new Set(frames).size).toBe(1);
    expect(r.summary.frames).toBe(frames[0]! * 4);
    const events = Object.values(cams).map((c) => c.events);
    expect(events[0]).toBeGreaterThan(0);
    expect(new Set(events).size).toBe(1);
    expect(r.summary.events).toBe(events[0]! * 4);
  }, 120_000);
});
