/**
 * The real agent, in this process, serving its status page: composeAgent() as `edge-agent run --simulate-outputs`
 * builds it (the demo clip decoded by real ffmpeg, the demo model on real ONNX Runtime, decoder, tracker, rule
 * engine, the output safety layer on its worker thread writing the dry-run journal, the JSONL event sink), with the
 * page on the agent's own health listener and fed by its event bus (agent/app/status-wiring.ts). The harness only
 * listens to the bus to know the truth the page must show; it wires nothing by hand.
 */
import type { Logger } from '../../agent/log.js';
import { loadConfigFile, type LoadedConfig } from '../../agent/config/load.js';
import { composeAgent } from '../../agent/app/compose.js';
import type { Agent } from '../../agent/agent.js';
import type { AnomalyEvent, TrackedDetection } from '../../agent/types.js';
import type { StatusFeed } from '../../agent/status/feed.js';
import type { LiveFrame } from '../../agent/status/source.js';

export interface DemoStatus {
  url: string;
  agent: Agent;
  /** The camera name the agent gives its one camera (the page's ids and frame URLs use it). */
  camera: string;
  feed: StatusFeed;
  loaded: LoadedConfig;
  /** Every frame's tracked detections as the pipeline decided them (bus `decision`), by frame seq: the truth the page must draw. */
  truth: Map<number, { detections: TrackedDetection[]; fired: LiveFrame['fired'] }>;
  /** Events as the pipeline emitted them (bus `event`). */
  events: AnomalyEvent[];
  /** Results of Agent.reload() calls (a zone save applies the file as SIGHUP does). */
  reloads: string[];
  providerCalls: () => number;
  stop(): Promise<void>;
}

export async function startDemoStatus(o: { config: string; journal: string; stateDir: string; log: Logger }): Promise<DemoStatus> {
  const loaded = loadConfigFile(o.config);
  const agent = composeAgent({ loaded, log: o.log, mode: 'latest', stateDir: o.stateDir, simulateOutputs: o.journal });
  const truth: DemoStatus['truth'] = new Map();
  const events: AnomalyEvent[] = [];
  const reloads: string[] = [];
  agent.bus.on('decision', 'test', (d) => {
    truth.set(d.seq, { detections: d.detections.map((x) => ({ ...x })), fired: (d.fired ?? []).map((f) => ({ ...f })) });
    if (truth.size > 2_000) truth.delete(truth.keys().next().value!);
  });
  agent.bus.on('event', 'test', (e) => e.event && events.push(e.event));
  // Observe (not replace) the SIGHUP path the zone save takes.
  const reload = agent.reload.bind(agent);
  agent.reload = async () => {
    const r = await reload();
    reloads.push(r.message);
    return r;
  };
  await agent.start();
  const running = agent.run().catch((err: unknown) => o.log.error({ err }, 'demo agent failed'));
  const url = agent.healthUrl();
  const feed = agent.statusFeed();
  if (!url || !feed) throw new Error('the agent serves no status page: health.enabled and status.enabled must be on in the test config');
  const cam = feed.state().cameras[0]!.name;
  return {
    url,
    agent,
    camera: cam,
    feed,
    loaded,
    truth,
    events,
    reloads,
    providerCalls: () => feed.liveView(cam)?.counters.provided ?? 0,
    async stop() {
      agent.requestStop();
      await running;
      await agent.stop();
    },
  };
}
