import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseCommandArgs } from '../args.js';
import { AgentError, ExitCode } from '../../errors.js';
import { createLogger } from '../../log.js';
import { AGENT_ENV, AGENT_NODE_FLAGS, demoSceneDir, packageRoot } from '../../paths.js';

export const summary = 'the bundled demo: a local MQTT broker, the agent on the conveyor clip, events as the broker got them';

const usage = `
usage: edge-agent demo [--state-dir DIR] [--cameras N [--seconds S]]

Starts a local MQTT broker (mosquitto when installed, else an embedded one) and a subscriber, runs the agent
once over the bundled conveyor clip (generated on first use) with simulated outputs, and prints what the
agent did and each anomaly event as the broker received it.

  --state-dir DIR   where the outbox, event and output journals go (default: ./state/demo)
  --cameras N       the clip as N cameras (cam1..camN) on one model host sharing one session; per-camera counts
  --seconds S       with --cameras: cameras run live (latest frame wins) for S seconds, instead of every frame
                    of the clip as fast as it goes
  --pace P          with --seconds: realtime (the clip's frame rate, default) or fast (decoders as fast as they go)
`;

interface Received {
  topic: string;
  payload: Record<string, unknown>;
}

export async function run(argv: string[]): Promise<number> {
  if (argv[0] === 'farm') return (await import('./demo-farm.js')).run(argv.slice(1)); // `demo farm`: the irrigation demo
  const { values, help } = parseCommandArgs(argv, { 'state-dir': { type: 'string' }, cameras: { type: 'string' }, seconds: { type: 'string' }, pace: { type: 'string' } }, usage);
  if (help) return ExitCode.ok;
  const log = createLogger({ level: 'warn' });
  const stateDir = resolve(values['state-dir'] ?? join(process.cwd(), 'state', 'demo'));
  mkdirSync(stateDir, { recursive: true });
  const eventsFile = join(stateDir, 'events.jsonl');
  const outputsFile = join(stateDir, 'outputs.jsonl');
  // A demo run shows one run's events: start from empty journals and outbox.
  for (const f of [eventsFile, outputsFile, join(stateDir, 'outbox')]) rmSync(f, { recursive: true, force: true });
  if (values.cameras !== undefined) return camerasDemo(values.cameras, values.seconds, values.pace, { stateDir, eventsFile, outputsFile });

  const { startBroker, subscribe } = await import('../../../drivers/mqtt/broker.js');
  const broker = await startBroker({ log });
  const received: Received[] = [];
  const sub = await subscribe(broker.url, ['edge-agent/+/events', 'edge-agent/+/status'], (m) => {
    try {
      received.push({ topic: m.topic, payload: JSON.parse(m.payload.toString()) as Record<string, unknown> });
    } catch {
      /* not JSON: not ours */
    }
  });
  const out = (s: string): boolean => process.stdout.write(`${s}\n`);
  out(`broker: ${broker.kind} on ${broker.url}; subscribed to edge-agent/+/events and edge-agent/+/status`);
  try {
    const args = [join(packageRoot(), 'bin', 'edge-agent.js'), 'run', '--until-eof', '--mqtt', broker.url, '--events-out', eventsFile, '--simulate-outputs', outputsFile, '--state-dir', stateDir];
    out(`agent:  edge-agent ${args.slice(1).join(' ')}`);
    const code = await new Promise<number>((res) => {
      const child = spawn(process.execPath, [...AGENT_NODE_FLAGS, ...args], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, ...AGENT_ENV, EDGE_AGENT_LOG_LEVEL: process.env.EDGE_AGENT_LOG_LEVEL ?? 'warn' } });
      child.on('close', (c) => res(c ?? 1));
    });
    if (code !== 0) throw new AgentError('INTERNAL', `the agent exited with status ${code}`, { fix: 'see the message above' });
    const written = existsSync(eventsFile) ? readFileSync(eventsFile, 'utf8').trim().split('\n').filter(Boolean).length : 0;
    const deadline = Date.now() + 5_000;
    while (received.filter((r) => r.topic.endsWith('/events')).length < written && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const events = received.filter((r) => r.topic.endsWith('/events'));
    out('');
    out(`events received by the broker: ${events.length} (the agent wrote ${written})`);
    for (const { payload: e } of events) {
      const frame = e.frame as { seq: number };
      const pulse = (e.actions as Array<{ type: string; status: string; output?: string; dueTs?: string }>).find((a) => a.type === 'pulse');
      const box = (e.bbox as number[]).map((v) => v.toFixed(2)).join(',');
      out(`  ${String(e.ts)}  ${String(e.label)} ${Number(e.score).toFixed(2)}  track ${String(e.trackId)}  frame ${frame.seq}  box [${box}]  ${pulse ? `${pulse.output} pulse ${pulse.status}` : ''}`);
    }
    const statuses = received.filter((r) => r.topic.endsWith('/status')).map((r) => String(r.payload.state));
    out(`device status seen: ${statuses.join(' -> ') || 'none'}`);
    const pulses = readFileSync(outputsFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { value: number }).filter((j) => j.value === 1).length;
    out(`reject gate pulses in the output journal: ${pulses} (${outputsFile})`);
    // The demo clip is synthetic, so the truth is known: say how the run did against it.
    const { loadSceneTruth, scoreEvents } = await import('../../../scripts/demo-scene/score.js');
    const { truth, boxes } = loadSceneTruth(demoSceneDir());
    const sc = scoreEvents(events.map((e) => e.payload as unknown as { frame: { seq: number }; bbox: number[] }), truth, boxes);
    out(
      `against the clip's truth (${truth.parts.length} parts, ${sc.defective} defective): ${sc.caught} of ${sc.defective} defective parts rejected once` +
        `${sc.missed.length ? `, missed ${sc.missed.join(' ')}` : ''}; good parts rejected: ${sc.falseRejects.length}${sc.unmatched ? `; events on no part: ${sc.unmatched}` : ''}${sc.repeated.length ? `; parts rejected twice: ${sc.repeated.join(' ')}` : ''}`,
    );
    return events.length === written ? ExitCode.ok : ExitCode.failure;
  } finally {
    await sub.close().catch(() => undefined);
    await broker.stop().catch(() => undefined);
  }
}

/** `demo --cameras N`: the clip as N cameras on one model host, in this process; per-camera frames and events. */
async function camerasDemo(nText: string, secondsText: string | undefined, pace: string | undefined, o: { stateDir: string; eventsFile: string; outputsFile: string }): Promise<number> {
  const n = Number(nText);
  if (!Number.isInteger(n) || n < 1 || n > 16) throw new AgentError('USAGE', `--cameras ${nText}: a whole number of cameras from 1 to 16`, { fix: 'e.g. --cameras 4' });
  const seconds = secondsText === undefined ? undefined : Number(secondsText);
  if (seconds !== undefined && !(seconds > 0)) throw new AgentError('USAGE', `--seconds ${secondsText}: a positive number of seconds`, { fix: 'e.g. --seconds 5' });
  if (pace !== undefined && pace !== 'fast' && pace !== 'realtime') throw new AgentError('USAGE', `--pace ${pace}: realtime or fast`, { fix: 'e.g. --pace fast' });
  const { runCamerasDemo } = await import('./demo-cameras.js');
  const log = createLogger({ level: (process.env.EDGE_AGENT_LOG_LEVEL as 'warn' | undefined) ?? 'warn' });
  const r = await runCamerasDemo({ n, stateDir: o.stateDir, log, eventsOut: o.eventsFile, simulateOutputs: o.outputsFile, ...(seconds ? { seconds } : {}), ...(pace ? { pace } : {}) });
  const out = (s: string): boolean => process.stdout.write(`${s}\n`);
  const s = r.summary;
  out(`config: ${r.config}`);
  out(`${n} cameras on ${r.hosts} model host${r.hosts === 1 ? '' : 's'} (${r.backendsOpened} model session${r.backendsOpened === 1 ? '' : 's'} opened, verification included), model ${s.model.name}/${s.model.variant} on ${s.model.accelerator}`);
  out(`camera   frames     fps  events  dropped  restarts`);
  for (const [name, c] of Object.entries(s.cameras)) out(`${name.padEnd(8)} ${String(c.frames).padStart(6)} ${c.fps.toFixed(1).padStart(7)} ${String(c.events).padStart(7)} ${String(c.dropped).padStart(8)} ${String(c.restarts).padStart(9)}`);
  out(`all      ${String(s.frames).padStart(6)} ${s.fps.toFixed(1).padStart(7)} ${String(s.events).padStart(7)} ${String(s.dropped).padStart(8)}   in ${s.seconds.toFixed(1)} s`);
  out(`peak RSS: ${(process.resourceUsage().maxRSS / 1024).toFixed(1)} MB (this process: agent and model; ffmpeg decoders apart)`);
  return ExitCode.ok;
}
