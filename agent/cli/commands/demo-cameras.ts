import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { loadConfigFile } from '../../config/load.js';
import type { Logger } from '../../log.js';
import { DEMO_SEED, demoConfigPath, demoSceneDir } from '../../paths.js';
import { composeAgent, createBackend, createModelHost } from '../../app/compose.js';
import type { RunSummary } from '../../agent.js';
import type { ModelHost } from '../../model/host.js';

/** What `demo --cameras N` found: the run summary and the model sessions the run opened. */
export interface CamerasDemoResult {
  summary: RunSummary;
  /** Model hosts created (one per model the cameras name). */
  hosts: number;
  /** Backends (model sessions) the hosts created, verification included. */
  backendsOpened: number;
  /** Sessions open once every camera runs (the one the cameras share; a reference opened for the known-answer check is closed by then). */
  sessionsOpen: number;
  /** Variants the verification walk tried and passed over before the running one (each cost its own opens). */
  passedOver: string[];
  config: string;
}

/**
 * The demo clip as N cameras on one model: a config with `cameras:` cam1..camN, each reading the clip in full, all
 * naming the default model (one host, one session shared round-robin) and pulsing the one reject gate (shared).
 */
export function camerasDemoConfig(n: number, clip: string, stateDir: string, seconds?: number, pace: 'realtime' | 'fast' = 'realtime'): string {
  const base = parse(readFileSync(demoConfigPath(), 'utf8')) as Record<string, unknown> & { source: Record<string, unknown>; model: { manifest: string }; outputs: Record<string, Record<string, unknown>> };
  const source = { ...base.source, path: clip, pace: seconds ? pace : 'fast', loop: Boolean(seconds) };
  const cameras = Object.fromEntries(Array.from({ length: n }, (_, i) => [`cam${i + 1}`, { source }]));
  const outputs = Object.fromEntries(Object.entries(base.outputs).map(([k, o]) => [k, { ...o, shared: true }]));
  const { source: _s, ...rest } = base;
  const cfg = { ...rest, model: { ...base.model, manifest: resolve(dirname(demoConfigPath()), base.model.manifest) }, cameras, outputs, health: { enabled: false } };
  const file = join(stateDir, `cameras-${n}.yaml`);
  writeFileSync(file, `# edge-agent demo --cameras ${n}: generated\n${stringify(cfg)}`);
  return file;
}

export async function runCamerasDemo(o: { n: number; stateDir: string; log: Logger; mqttUrl?: string; eventsOut?: string; simulateOutputs: string; seconds?: number; pace?: 'realtime' | 'fast' }): Promise<CamerasDemoResult> {
  const { ensureScene } = await import('../../../scripts/demo-scene/index.js');
  const { video } = await ensureScene(demoSceneDir(), DEMO_SEED);
  mkdirSync(o.stateDir, { recursive: true });
  rmSync(join(o.stateDir, 'outbox'), { recursive: true, force: true });
  const file = camerasDemoConfig(o.n, video, o.stateDir, o.seconds, o.pace);
  let hosts = 0;
  let backendsOpened = 0;
  const opened: ModelHost[] = [];
  const agent = composeAgent({
    loaded: loadConfigFile(file),
    log: o.log,
    mode: o.seconds ? 'latest' : 'lossless',
    stateDir: o.stateDir,
    simulateOutputs: o.simulateOutputs,
    ...(o.mqttUrl ? { mqttUrl: o.mqttUrl } : {}),
    ...(o.eventsOut ? { eventsOut: o.eventsOut } : {}),
    drivers: {
      modelHost: (ho) => {
        hosts++;
        const host = createModelHost(ho, {
          createBackend: (runtime, log) => {
            backendsOpened++;
            return createBackend(runtime, log);
          },
        });
        opened.push(host);
        return host;
      },
    },
  });
  try {
    await agent.start();
    const sessionsOpen = opened.reduce((n, h) => n + h.openBackends(), 0);
    const passedOver = opened.flatMap((h) => h.running()?.passedOver.map((p) => p.variant) ?? []);
    let timer: NodeJS.Timeout | undefined;
    if (o.seconds) timer = setTimeout(() => agent.requestStop(), o.seconds * 1000);
    const summary = await agent.run();
    clearTimeout(timer);
    await agent.stop(o.mqttUrl ? 5_000 : 0);
    return { summary, hosts, backendsOpened, sessionsOpen, passedOver, config: file };
  } catch (err) {
    await agent.stop().catch(() => undefined);
    throw err;
  }
}
