/**
 * The status page fed by the real spine, in this process, until the agent's event bus is wired to it: the demo
 * clip decoded by real ffmpeg through the project's source driver, the demo model on real ONNX Runtime, the real
 * decoder, tracker and rule engine, the real output safety layer writing the dry-run journal (as
 * `run --simulate-outputs`), and the real JSONL event sink. Hooks on the tracker and the rule engine hand every
 * frame to the StatusFeed the way the agent's bus will.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Logger } from '../../agent/log.js';
import { configPath, loadConfigFile, type LoadedConfig } from '../../agent/config/load.js';
import { loadManifest } from '../../agent/model/manifest.js';
import { chooseVariant } from '../../agent/model/choose.js';
import { openVariant } from '../../agent/model/open-variant.js';
import { createBackend } from '../../drivers/inference/registry.js';
import { createSource } from '../../drivers/camera/index.js';
import { TensorPacker } from '../../agent/preprocess/tensor.js';
import { inputSize } from '../../agent/preprocess/geometry.js';
import { prepareDecoder } from '../../agent/decode/index.js';
import { IouTracker } from '../../agent/tracker/tracker.js';
import { RuleEngine, type Firing, type FrameFacts } from '../../agent/rules/engine.js';
import { Pipeline } from '../../agent/pipeline/pipeline.js';
import { OutputBank } from '../../agent/actuators/output-bank.js';
import { createEventHub } from '../../agent/events/registry.js';
import type { AnomalyEvent, Detection, Frame, TrackedDetection } from '../../agent/types.js';
import { StatusFeed } from '../../agent/status/feed.js';
import { SnapshotEncoder } from '../../agent/events/snapshot-encoder.js';
import { repoRoot } from '../helpers/cli.js';
import { createStatusHandler, type StatusHandler } from '../../agent/status/routes.js';
import { OutputTester } from '../../agent/status/output-test.js';
import { readZones, ZoneSaver } from '../../agent/status/zone-save.js';
import { operatorActions } from '../../agent/status/index.js';
import type { LiveFrame } from '../../agent/status/source.js';

export interface DemoStatus {
  url: string;
  feed: StatusFeed;
  loaded: LoadedConfig;
  /** Every frame's tracked detections as the pipeline produced them, by frame seq (the truth the page must draw). */
  truth: Map<number, { detections: TrackedDetection[]; fired: LiveFrame['fired'] }>;
  events: AnomalyEvent[];
  reloads: string[];
  providerCalls: () => number;
  stop(): Promise<void>;
}

export async function startDemoStatus(o: { config: string; journal: string; stateDir: string; log: Logger; listen?: string }): Promise<DemoStatus> {
  const loaded = loadConfigFile(o.config);
  const cfg = loaded.config;
  const log = o.log;
  const manifest = loadManifest(configPath(loaded, cfg.model.manifest));
  const { profile, selection } = await chooseVariant(manifest, { selection: cfg.model.selection, stateDir: o.stateDir, log });
  const variant = manifest.variants.find((v) => v.name === selection.selected)!;
  const opened = await openVariant(manifest, variant, { threads: 1, verify: false, thread: 'main', log, createBackend });

  // The feed needs the camera's size, known once the source has started; the bank reports to it from then on.
  let status: StatusFeed | undefined;
  // The output safety core in-process (as `actuate` runs it), so the harness needs no built worker.
  const bank = new OutputBank(cfg.outputs, { log, simulateJournal: o.journal, threaded: false, onReport: (r) => status?.actuation(r) });
  await bank.start();
  const hub = await createEventHub({ ...cfg.events, jsonl: join(o.stateDir, 'events.jsonl') }, { deviceId: 'demo', stateDir: o.stateDir, log });
  await hub.start();

  const src = cfg.source.type === 'file' ? { ...cfg.source, path: configPath(loaded, cfg.source.path) } : cfg.source;
  const source = createSource(src, { input: opened.input, mode: 'latest', log, planar: opened.input.layout === 'NCHW' });
  await source.start();
  const geometry = source.geometry();
  const camera = { name: 'main', describe: source.describe(), width: geometry.srcWidth, height: geometry.srcHeight };
  // JPEG encoding on the compiled snapshot worker thread, as in the agent (from the .ts sources the encoder would
  // find no worker and encode inline); inline when dist/ is not built.
  const workerFile = join(repoRoot, 'dist', 'agent', 'events', 'snapshot-worker.js');
  const encoder = new SnapshotEncoder(workerFile);
  const feed = new StatusFeed({ device: { id: cfg.device.id ?? 'demo' }, cameras: [camera], outputs: cfg.outputs, maxFps: cfg.status.maxFps, recentEvents: cfg.status.recentEvents, encoder, log });
  status = feed;

  // Frames by media time, for the tracker hook (it sees ptsMs, the frame is still the consumer's then).
  const recent = new Map<number, Frame>();
  const wrapped = { ...source, next: async () => {
    const f = await source.next();
    if (f) {
      recent.set(f.ptsMs, { ...f });
      if (recent.size > 8) recent.delete(recent.keys().next().value!);
    }
    return f;
  } } as typeof source;
  Object.setPrototypeOf(wrapped, Object.getPrototypeOf(source));

  const truth = new Map<number, { detections: TrackedDetection[]; fired: LiveFrame['fired'] }>();
  let providerCalls = 0;
  let pending: { frame: Frame; detections: TrackedDetection[] } | undefined;
  class ObservedTracker extends IouTracker {
    override update(dets: readonly Detection[], tMs: number): TrackedDetection[] {
      const tracked = super.update(dets, tMs);
      const frame = recent.get(tMs);
      if (frame) pending = { frame, detections: tracked };
      return tracked;
    }
  }
  const observe = (firings: Firing[]): Firing[] => {
    const p = pending;
    pending = undefined;
    if (!p) return firings;
    const fired = firings.map((f) => ({ rule: f.rule.name, label: f.label, trackId: f.trackId, bbox: f.bbox }));
    truth.set(p.frame.seq, { detections: p.detections.map((d) => ({ ...d })), fired });
    feed.frame('main', () => {
      providerCalls++;
      return { frame: p.frame, geometry, detections: p.detections, fired };
    });
    return firings;
  };
  class ObservedRules extends RuleEngine {
    override evaluate(f: FrameFacts): Firing[] {
      return observe(super.evaluate(f));
    }
  }

  const events: AnomalyEvent[] = [];
  const { width, height } = inputSize(opened.input);
  const pipeline = new Pipeline({
    source: wrapped,
    packer: new TensorPacker(opened.input, { quant: opened.backend.inputs().find((i) => i.name === opened.input.name)?.quant }),
    backend: opened.backend,
    inputName: opened.input.name,
    decode: prepareDecoder(manifest.decoder, manifest.labels),
    decodeCtx: { spec: manifest.decoder, labels: manifest.labels, inputWidth: width, inputHeight: height, geometry },
    tracker: new ObservedTracker(cfg.tracker),
    rules: new ObservedRules(cfg.rules, log),
    outputs: { pulse: (n, r) => bank.pulse(n, r), hold: (n, r) => bank.hold(n, r), heartbeat: () => bank.heartbeat() },
    events: {
      emit: async (ev, evidence) => {
        const outcome = await hub.emit(ev, evidence);
        events.push(ev);
        feed.event('main', { ...ev, actions: ev.actions.map((a) => (a.type === 'event' ? outcome : a)) }, evidence);
        return outcome;
      },
    },
    model: { name: manifest.name, variant: variant.name, sha256: variant.sha256, accelerator: opened.backend.accelerator() },
    newEventId: (() => {
      let n = 0;
      return () => `ev-${++n}`;
    })(),
    log,
  });

  feed.doctor({
    board: `${profile.board.family}${profile.board.model ? ` (${profile.board.model})` : ''}`,
    accelerators: profile.accelerators.map((a) => a.kind),
    model: { name: manifest.name, variant: variant.name, accelerator: opened.backend.accelerator() },
    variants: selection.variants.map((v) => ({ name: v.name, accelerator: v.accelerator, eligible: v.eligible, score: v.score, latencyMs: v.latencyMs, reason: v.reason, running: v.name === variant.name })),
    summary: selection.summary,
    degraded: [],
  });
  const z = readZones(loaded.path!);
  feed.config(z.zones, z.rules, z.configHash);
  const timer = setInterval(() => {
    const s = pipeline.stats.summary();
    feed.perf({ fps: pipeline.stats.fps(), stages: Object.fromEntries(Object.entries(s).map(([k, v]) => [k, { p50: v.p50, p99: v.p99 }])), framesDropped: source.stats().framesDropped });
    void bank.status().then((st) => feed.outputs(st));
  }, 1_000);

  const reloads: string[] = [];
  const actions = operatorActions(
    new OutputTester(bank, cfg.outputs, log),
    new ZoneSaver({
      file: loaded.path!,
      log,
      reload: () => {
        // What Agent.reload() does on SIGHUP: re-read, validate, swap the rules.
        const next = loadConfigFile(loaded.path!);
        pipeline.replaceRules(new ObservedRules(next.config.rules, log));
        reloads.push(next.config.rules.map((r) => r.name).join(','));
        return { applied: true, message: `rules reloaded (${next.config.rules.map((r) => r.name).join(', ')})` };
      },
      saved: (zz) => feed.config(zz.zones, zz.rules, zz.configHash),
    }),
  );
  const handler: StatusHandler = createStatusHandler({ feed, actions, config: cfg.status, listen: o.listen ?? '127.0.0.1:0', log, frameWaitMs: 5_000 });
  const server: Server = createServer((req, res) => {
    if (handler(req, res)) return;
    res.writeHead(404).end('not found\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const running = pipeline.run().catch((err: unknown) => log.error({ err }, 'demo pipeline failed'));

  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    feed,
    loaded,
    truth,
    events,
    reloads,
    providerCalls: () => providerCalls,
    async stop() {
      clearInterval(timer);
      handler.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      pipeline.stop();
      await source.stop();
      await running;
      await bank.stop();
      await hub.stop();
      await opened.backend.close();
      await feed.close();
      await encoder.close();
    },
  };
}
