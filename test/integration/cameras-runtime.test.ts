import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { camerasDemoConfig } from '../../agent/cli/commands/demo-cameras.js';
import { composeAgent, createModelHost } from '../../agent/app/compose.js';
import { loadConfigFile, configPath } from '../../agent/config/load.js';
import { loadManifest } from '../../agent/model/manifest.js';
import { silentLogger } from '../../agent/log.js';
import { DEMO_SEED, demoConfigPath, demoSceneDir } from '../../agent/paths.js';
import { FairShare } from '../../agent/cameras/fair-share.js';
import { TensorPacker } from '../../agent/preprocess/tensor.js';
import { inputSize } from '../../agent/preprocess/geometry.js';
import { ensureScene } from '../../scripts/demo-scene/index.js';

const dir = mkdtempSync(join(tmpdir(), 'cameras-runtime-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('several cameras', () => {
  it('a camera whose source cannot open logs its error and restarts alone; the other camera runs', async () => {
    const { video } = await ensureScene(demoSceneDir(), DEMO_SEED);
    const file = camerasDemoConfig(2, video, dir, 3, 'realtime');
    const cfg = parse(readFileSync(file, 'utf8')) as { cameras: Record<string, { source: { path: string; restart?: unknown } }> };
    cfg.cameras.cam2!.source = { ...cfg.cameras.cam2!.source, path: join(dir, 'no-such-clip.mp4'), restart: { minMs: 200, maxMs: 400, stallMs: 5000 } };
    writeFileSync(file, stringify(cfg));
    const lines: string[] = [];
    const log = (await import('pino')).pino({ level: 'error' }, { write: (l: string) => lines.push(l) });
    const agent = composeAgent({ loaded: loadConfigFile(file), log: log as never, mode: 'latest', stateDir: join(dir, 'state'), simulateOutputs: join(dir, 'outputs.jsonl') });
    await agent.start();
    setTimeout(() => agent.requestStop(), 3_000);
    const s = await agent.run();
    await agent.stop();
    expect(s.cameras.cam1!.frames).toBeGreaterThan(10);
    expect(s.cameras.cam2!.frames).toBe(0);
    // Started failing, then retried alone with backoff (200, 400, 400 ... ms) while cam1 ran.
    expect(s.cameras.cam2!.restarts).toBeGreaterThanOrEqual(2);
    expect(s.restarts.source).toBe(s.cameras.cam2!.restarts);
    const errors = lines.map((l) => JSON.parse(l) as { camera?: string; msg: string }).filter((l) => l.camera === 'cam2');
    expect(errors.length).toBeGreaterThanOrEqual(2);
    expect(errors[0]!.msg).toMatch(/^camera cam2 could not start: .*no-such-clip\.mp4/);
    expect(errors.every((e) => e.camera === 'cam2')).toBe(true);
  }, 60_000);

  it('cameras sharing one session take turns: with every camera asking all the time, each is served alike', async () => {
    const loaded = loadConfigFile(demoConfigPath());
    const host = createModelHost({ manifest: loadManifest(configPath(loaded, loaded.config.model.manifest)), settings: { ...loaded.config.model, verify: false }, stateDir: join(dir, 'host'), job: 'live', log: silentLogger });
    try {
      const { opened } = await host.open();
      const share = new FairShare(opened.backend);
      const { width, height } = inputSize(opened.input);
      const input = new TensorPacker(opened.input, { quant: opened.backend.inputs()[0]?.quant }).pack({ data: new Uint8Array(width * height * 3), width, height, format: 'rgb24' } as never);
      const order: string[] = [];
      // cam1 asks for 60 calls, the others for 20: while all four ask, none gets ahead of the others by more than a turn.
      const ask = async (cam: string, n: number): Promise<void> => {
        const lane = share.lane(cam);
        expect(lane.maxInFlight?.()).toBe(opened.backend.maxInFlight?.());
        for (let i = 0; i < n; i++) {
          await lane.run({ [opened.input.name]: input });
          order.push(cam);
        }
      };
      await Promise.all([ask('cam1', 60), ask('cam2', 20), ask('cam3', 20), ask('cam4', 20)]);
      const first = order.slice(0, 60);
      for (const cam of ['cam1', 'cam2', 'cam3', 'cam4']) {
        const n = first.filter((c) => c === cam).length;
        expect(n, `${cam} in the first 60 calls: ${first.join(' ')}`).toBeGreaterThanOrEqual(14);
        expect(n).toBeLessThanOrEqual(16);
      }
      expect(Object.fromEntries(share.served)).toEqual({ cam1: 60, cam2: 20, cam3: 20, cam4: 20 });
      // A swap or reload: each camera gets a new lane to the new session; the old lanes keep theirs.
      const old = share.lane('cam1');
      const fresh = await host.openVariant(opened.variant.name, { verify: false });
      share.replace(fresh.backend);
      expect(share.lane('cam1')).not.toBe(old);
      expect(share.lane('cam1')).toBe(share.lane('cam1'));
      await share.lane('cam2').run({ [opened.input.name]: input });
    } finally {
      await host.close();
    }
  }, 60_000);
});
