/**
 * `edge-agent demo farm` (also `edge-agent demo-farm`): a day on the farm, end to end. Generates the field
 * time-lapse for a seed the model never saw in training, starts a local MQTT broker, replays the scene's soil and
 * rain readings through it as gateways would publish them (JSON with a value and a timestamp), runs the field model
 * (ONNX Runtime + the agent's yolov8 decoder) on every frame of the clip, and hands each frame's detections to the
 * farm exactly as `edge-agent run` does: the bus `decision` message -> FarmWiring (agent/app/farm-wiring.ts: the
 * configured sensor inputs, the irrigation controller, silent sensors reported as `degraded`) -> the OutputBank
 * (dry-run journal). What differs from `run` is the clock: one frame is 5 minutes, so valves, sensors and the
 * controller follow a simulated clock instead of the wall. Prints the day, compares it with the truth, and writes a
 * PNG plot beside the journal.
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseCommandArgs } from '../args.js';
import { AgentError, ExitCode } from '../../errors.js';
import { createLogger, type Logger } from '../../log.js';
import { packageRoot } from '../../paths.js';
import { loadConfigFile } from '../../config/load.js';
import { inWindows, localTime, type Decision } from '../../irrigation/index.js';
import { cameraVerdict } from '../../irrigation/camera.js';
import type { Detection } from '../../types.js';

export const summary = 'a day on the farm: field clip, soil sensors over MQTT, the field model, irrigation valves, compared with the truth';

const usage = `
usage: edge-agent demo farm [--seed N] [--state-dir DIR] [--quiet]

Runs one simulated day (24 h time-lapse, one frame = 5 minutes) of config/farm-demo.yaml: a local MQTT broker,
replayed soil and rain sensor readings, the field model on every frame, the irrigation rules on four simulated
valves. Prints which valve opened when, for how long and why, and how that compares with the scene's truth;
writes the valve journal and day.png to the state folder.

  --seed N          field scene seed (default 9004; training used 1-48, validation 501-504, evaluation 1000-1011)
  --state-dir DIR   where the journal, ledger and plot go (default ./state/farm-demo)
  --quiet           print only the summary
`;

const SCENE_DAY = '2026-06-15';

/**
 * What scripts/field-scene/compare.ts reports (its DayComparison, restated: a CLI command loads offline tools only
 * through a dynamic import, types included). Spans are [zone, first frame, last frame].
 */
interface DayComparison {
  wetOrRain: Array<{ zone: string; atMs: number; frame: number; durationS: number }>;
  borderline: Array<{ zone: string; atMs: number; frame: number; durationS: number }>;
  missed: Array<[string, number, number]>;
  borderlineMissed: Array<[string, number, number]>;
  neededSpans: number;
  wateredSpans: number;
  zoneSeconds: Record<string, number>;
  farmSeconds: number;
  maxOpenAtOnce: number;
}

export interface FarmDayResult {
  decisions: Decision[];
  openings: Array<{ frame: number; zone: string; durationS: number; atMs: number; reason: string }>;
  comparison: DayComparison;
  budgets: { zone: Record<string, number>; farm: number | undefined };
  maxOpen: number;
  plot: string;
  journal: string;
  ok: boolean;
  lines: string[];
}

/** Midnight of the scene's day in the config's time zone, epoch ms (searching the offset: DST-safe). */
function localMidnight(day: string, timeZone: string | undefined): number {
  const utc = Date.parse(`${day}T00:00:00Z`);
  for (let h = -14; h <= 14; h++) {
    const t = utc - h * 3600_000;
    const lt = localTime(t, timeZone);
    if (lt.day === day && lt.minute === 0) return t;
  }
  throw new AgentError('INTERNAL', `cannot find local midnight of ${day}`);
}

export async function runFarmDay(opts: { seed: number; stateDir: string; log?: Logger; configFile?: string }): Promise<FarmDayResult> {
  const root = packageRoot();
  const log = opts.log ?? createLogger({ level: 'warn' });
  const { config } = loadConfigFile(opts.configFile ?? join(root, 'config', 'farm-demo.yaml'));
  const irr = config.irrigation!;
  const sensorsCfg = config.sensors!;
  const { ensureField } = await import('../../../scripts/field-scene/write.js');
  const { compareDay } = await import('../../../scripts/field-scene/compare.js');
  const { plotDay } = await import('../../../scripts/field-scene/plot.js');
  const sceneDir = join(root, '.cache', 'farm', `seed-${opts.seed}`);
  const scene = await ensureField(sceneDir, opts.seed, 24);
  const truth = JSON.parse(readFileSync(scene.truth, 'utf8')) as Parameters<typeof compareDay>[0];

  mkdirSync(opts.stateDir, { recursive: true });
  const journal = join(opts.stateDir, 'valves.jsonl');
  const ledgerFile = join(opts.stateDir, 'irrigation.json');
  for (const f of [journal, ledgerFile, join(opts.stateDir, 'outputs')]) rmSync(f, { recursive: true, force: true });

  const start = localMidnight(SCENE_DAY, irr.timeZone);
  const frameMs = truth.minutesPerFrame * 60_000;
  // One simulated clock for valves, sensors and the controller: it follows the clip, not the wall.
  const { MediaTime } = await import('../../pipeline/media-time.js');
  const clock = new MediaTime(start); // simulated time: one frame is several minutes of the day

  const { startBroker } = await import('../../../drivers/mqtt/broker.js');
  const { connectAsync } = await import('mqtt');
  const { FarmWiring } = await import('../../app/farm-wiring.js');
  const { EventBus } = await import('../../bus.js');
  const { OutputBank } = await import('../../actuators/output-bank.js');
  const { loadManifest, findVariant } = await import('../../model/manifest.js');
  const { prepareDecoder } = await import('../../decode/index.js');
  const { openVariant } = await import('../../model/open-variant.js');
  const { agentDrivers, createBackend } = await import('../../app/compose.js');
  const { TensorPacker } = await import('../../preprocess/tensor.js');
  const { inputSize } = await import('../../preprocess/geometry.js');
  const { sourceSchema } = await import('../../config/sections/source.js');

  const broker = await startBroker({ log });
  const mqttSensors = Object.fromEntries(Object.entries(sensorsCfg.inputs).filter(([, s]) => s.type === 'mqtt')) as Record<string, import('../../config/sections/sensors.js').MqttSensorConfig>;
  const bank = new OutputBank(Object.fromEntries(Object.entries(config.outputs).map(([n, o]) => [n, { ...o, driver: { type: 'dry-run' as const } }])), {
    clock,
    timers: clock,
    simulateJournal: journal,
    log,
    ledgerDir: join(opts.stateDir, 'outputs'),
  });
  const decisions: Decision[] = [];
  // The same wiring as `run`: the sensors over the demo's broker, the controller fed from the bus, on the clip's clock.
  const bus = new EventBus(log);
  const farm = new FarmWiring({ config: { ...config, sensors: { ...sensorsCfg, broker: { url: broker.url } } }, stateDir: opts.stateDir, log, now: () => clock.wall(), checkEveryMs: 0, onDecisions: (d) => decisions.push(...d) });
  const store = farm.store;
  const silent: Array<{ atMs: number; component: string; reason: string | null }> = [];
  bus.on('degraded', 'demo', (p) => silent.push({ atMs: clock.wall(), ...p }));
  const manifest = loadManifest(join(root, 'models', 'field-demo', 'manifest.json'));
  const variant = findVariant(manifest, 'student-fp32');
  // The agent's own parts for the camera side: the ONNX Runtime backend, the tensor packer, the file source
  // (every frame: lossless), the yolov8 decoder; all through the composition root.
  const opened = await openVariant(manifest, variant, { threads: 1, verify: false, thread: 'main', log, createBackend });
  const backend = opened.backend;
  const packer = new TensorPacker(opened.input);
  const { width: iw, height: ih } = inputSize(opened.input);
  const decode = prepareDecoder(manifest.decoder, manifest.labels);
  const source = await agentDrivers().openSource(sourceSchema.parse({ type: 'file', path: scene.video, pace: 'fast', loop: false }), { input: opened.input, mode: 'lossless', log, planar: opened.input.layout === 'NCHW' });
  const pub = await connectAsync(broker.url, { reconnectPeriod: 0 });
  const openings: FarmDayResult['openings'] = [];
  const zoneNames = Object.keys(irr.zones);
  const scores: number[][] = zoneNames.map(() => []);
  try {
    await bank.start();
    await farm.start({ bus, outputs: bank });
    await source.start();
    const geometry = source.geometry();
    const byFrame = new Map<number, Array<[string, number]>>();
    for (const [sensor, readings] of Object.entries(truth.readings)) for (const [f, v] of readings) byFrame.set(f, [...(byFrame.get(f) ?? []), [sensor, v]]);
    let t = 0;
    for (let frame = await source.next(); frame; frame = await source.next(), t++) {
      await clock.advanceTo(t * frameMs);
      const at = clock.wall();
      // The gateways publish this frame's readings; wait until the sensor input has them (QoS 1, then arrival).
      const due = byFrame.get(t) ?? [];
      for (const [sensor, v] of due) {
        const s = mqttSensors[sensor]!;
        const body = sensor === 'rain' ? { mm: v, time: new Date(at).toISOString() } : { moisture: v, time: new Date(at).toISOString() };
        await pub.publishAsync(s.topic, JSON.stringify(body), { qos: 1 });
      }
      for (let i = 0; i < 400 && !due.every(([n]) => store.get(n).state === 'fresh' && (store.get(n) as { atMs: number }).atMs === at); i++) {
        await new Promise((r) => setTimeout(r, 5));
      }
      const outputs = await backend.run({ [opened.input.name]: packer.pack(frame) });
      frame.release?.();
      const dets: Detection[] = decode(outputs, { spec: manifest.decoder, labels: manifest.labels, inputWidth: iw, inputHeight: ih, geometry });
      zoneNames.forEach((z, i) => scores[i]!.push(cameraVerdict({ ...irr.zones[z]!, camera: { ...irr.zones[z]!.camera, labels: { dry_soil: 0 } } }, dets).score));
      const seen = decisions.length;
      bus.emit('decision', { camera: 'default', seq: t, captureTs: at, detections: dets.map((d, i) => ({ ...d, trackId: i + 1, hits: 1 })), firings: [] });
      await farm.idle();
      for (const d of decisions.slice(seen)) if (d.action === 'open') openings.push({ frame: t, zone: d.zone, durationS: d.durationS!, atMs: at, reason: d.reason });
    }
    if (t !== truth.frames) throw new AgentError('SOURCE_FAILED', `the field clip gave ${t} frames, its truth has ${truth.frames}`, { fix: `delete ${sceneDir} to have it made again` });
    await clock.advanceTo(t * frameMs);
  } finally {
    await pub.endAsync().catch(() => undefined);
    await farm.stop().catch(() => undefined);
    await bank.stop().catch(() => undefined);
    await source.stop().catch(() => undefined);
    await backend.close().catch(() => undefined);
    await broker.stop().catch(() => undefined);
  }

  const inWindow = (t: number) => inWindows(irr.schedule, localTime(start + t * frameMs, irr.timeZone));
  const belowPct = irr.zones[zoneNames[0]!]!.belowPct;
  const runFrames = Math.max(...zoneNames.map((z) => irr.zones[z]!.camera.frames));
  const comparison = compareDay(truth, openings, { inWindow, belowPct, runFrames, zoneName: (id) => zoneNames[id]! });
  const plot = join(opts.stateDir, 'day.png');
  plotDay(plot, { truth, zoneNames, cameraScores: scores, openings, inWindow, belowPct });

  const zoneBudget = Object.fromEntries(zoneNames.map((z) => [z, irr.zones[z]!.dailyMaxOnS ?? Infinity]));
  const budgetsHeld = zoneNames.every((z) => (comparison.zoneSeconds[z] ?? 0) <= zoneBudget[z]!) && comparison.farmSeconds <= (irr.dailyMaxOnS ?? Infinity);
  const ok = comparison.wetOrRain.length === 0 && comparison.missed.length === 0 && budgetsHeld && comparison.maxOpenAtOnce <= irr.maxOpen;
  const hhmm = (ms: number) => {
    const m = localTime(ms, irr.timeZone).minute;
    return `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
  };
  const lines: string[] = [];
  lines.push(`farm day ${SCENE_DAY} (${irr.timeZone ?? 'local time'}), field seed ${opts.seed}: ${truth.frames} frames, one every ${truth.minutesPerFrame} min; sensors over ${broker.kind} MQTT`);
  for (const o of openings) lines.push(`  ${hhmm(o.atMs)}  ${o.zone} -> ${irr.zones[o.zone]!.valve} open ${o.durationS} s  (${o.reason}; truth ${truth.zones[zoneNames.indexOf(o.zone)]!.moisture[o.frame]}%)`);
  const held = new Map<string, number>();
  for (const d of decisions) if (d.action === 'skip') held.set(d.reason.replace(/\d+(\.\d+)?/g, 'N'), (held.get(d.reason.replace(/\d+(\.\d+)?/g, 'N')) ?? 0) + 1);
  if (held.size) lines.push(`  held back (zone-frames): ${[...held].map(([r, n]) => `${r} x${n}`).join('; ')}`);
  for (const s of silent) lines.push(`  ${hhmm(s.atMs)}  degraded: ${s.component}${s.reason ? `: ${s.reason}` : ' publishes again'}`);
  const c = comparison;
  lines.push(`compared with the truth:`);
  const spans = (l: Array<[string, number, number]>) => l.map(([z, a, b]) => `${z} ${hhmm(start + a * frameMs)}-${hhmm(start + (b + 1) * frameMs)}`).join(', ');
  lines.push(`  zones watered when they needed it (soil more than 2 points below ${belowPct}%, not raining): ${c.wateredSpans} of ${c.neededSpans} window spans${c.missed.length ? `; MISSED: ${spans(c.missed)}` : ''}`);
  if (c.borderlineMissed.length) lines.push(`  not watered while within 2 points of ${belowPct}% (the probe's noise): ${spans(c.borderlineMissed)}`);
  lines.push(`  watered when wet or raining: ${c.wetOrRain.length}${c.wetOrRain.length ? ` (${c.wetOrRain.map((o) => `${o.zone} ${hhmm(o.atMs)}`).join(', ')})` : ''}; borderline (within 2 points of ${belowPct}%): ${c.borderline.length}`);
  lines.push(`  budgets: ${zoneNames.map((z) => `${z} ${c.zoneSeconds[z] ?? 0}/${zoneBudget[z]} s`).join(', ')}; farm ${c.farmSeconds}/${irr.dailyMaxOnS ?? 'unlimited'} s; at most ${c.maxOpenAtOnce} valves open at once (limit ${irr.maxOpen})`);
  lines.push(`${ok ? 'OK' : 'NOT OK'}: ${ok ? 'every zone that needed water got it in its window, none when wet or raining, limits held' : 'see above'}`);
  lines.push(`journal: ${journal}; plot: ${plot}`);
  return { decisions, openings, comparison, budgets: { zone: zoneBudget, farm: irr.dailyMaxOnS }, maxOpen: irr.maxOpen, plot, journal, ok, lines };
}

export async function run(argv: string[]): Promise<number> {
  const { values, help, positionals } = parseCommandArgs(argv, { seed: { type: 'string' }, 'state-dir': { type: 'string' }, quiet: { type: 'boolean' } }, usage);
  if (help) return ExitCode.ok;
  if (positionals.length) throw new AgentError('USAGE', `unexpected argument "${positionals[0]}"`, { fix: 'run edge-agent demo farm --help' });
  const seed = values.seed === undefined ? 9004 : Number(values.seed);
  if (!Number.isSafeInteger(seed) || seed < 0 || seed > 0xffffffff) throw new AgentError('USAGE', `--seed must be an integer from 0 to 4294967295, got "${values.seed}"`, { fix: 'pass e.g. --seed 9004' });
  const stateDir = resolve(values['state-dir'] ?? join(process.cwd(), 'state', 'farm-demo'));
  const res = await runFarmDay({ seed, stateDir });
  const lines = values.quiet ? res.lines.filter((l) => !l.startsWith('  ') || l.includes('budgets') || l.includes('watered')) : res.lines;
  process.stdout.write(`${lines.join('\n')}\n`);
  return res.ok ? ExitCode.ok : ExitCode.failure;
}
