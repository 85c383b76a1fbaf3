/**
 * `edge-agent demo farm` (also `edge-agent demo-farm`): a day on the farm, end to end. Generates the field
 * time-lapse for a seed the model never saw in training, starts a local MQTT broker, replays the scene's soil and
 * rain readings through it as gateways would publish them (JSON with a value and a timestamp), subscribes to them
 * with the agent's MQTT sensor input, runs the field model (ONNX Runtime + the agent's yolov8 decoder) on every
 * frame, and lets the irrigation controller drive four simulated valves through the real OutputBank (dry-run
 * journal) on a simulated clock that follows the clip (one frame = 5 minutes). Prints the day, compares it with the
 * truth, and writes a PNG plot beside the journal.
 *
 * Not the full `run` loop: the composition root (agent/agent.ts) does not yet wire sensors and irrigation; this
 * command composes the same parts the way it will (SensorStore -> IrrigationController -> OutputBank).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseCommandArgs } from '../args.js';
import { AgentError, ExitCode } from '../../errors.js';
import { createLogger, type Logger } from '../../log.js';
import { packageRoot } from '../../paths.js';
import { loadConfigFile } from '../../config/load.js';
import { inWindows, IrrigationController, localTime, type Decision } from '../../irrigation/index.js';
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

export interface FarmDayResult {
  decisions: Decision[];
  openings: Array<{ frame: number; zone: string; durationS: number; atMs: number; reason: string }>;
  comparison: import('../../../scripts/field-scene/compare.js').DayComparison;
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

async function decodeFrames(video: string, w: number, h: number): Promise<Uint8Array[]> {
  const child = spawn('ffmpeg', ['-v', 'error', '-i', video, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${w}x${h}`, '-'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => chunks.push(d));
  const code = await new Promise<number>((res, rej) => {
    child.on('error', rej);
    child.on('close', (c) => res(c ?? -1));
  });
  if (code !== 0) throw new AgentError('SOURCE_FAILED', `ffmpeg could not decode ${video}`, { fix: 'delete the clip folder to have it made again' });
  const all = Buffer.concat(chunks);
  const n = w * h * 3;
  const frames: Uint8Array[] = [];
  for (let o = 0; o + n <= all.length; o += n) frames.push(all.subarray(o, o + n));
  return frames;
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
  const truth = JSON.parse(readFileSync(scene.truth, 'utf8')) as import('../../../scripts/field-scene/truth.js').FieldTruth;

  mkdirSync(opts.stateDir, { recursive: true });
  const journal = join(opts.stateDir, 'valves.jsonl');
  const ledgerFile = join(opts.stateDir, 'irrigation.json');
  for (const f of [journal, ledgerFile, join(opts.stateDir, 'outputs')]) rmSync(f, { recursive: true, force: true });

  const start = localMidnight(SCENE_DAY, irr.timeZone);
  const frameMs = truth.minutesPerFrame * 60_000;
  // One simulated clock for valves, sensors and the controller: it follows the clip, not the wall.
  const { SimClock } = await import('../../irrigation/sim-clock.js');
  const clock = new SimClock(start);

  const { startBroker } = await import('../../../drivers/mqtt/broker.js');
  const { connectAsync } = await import('mqtt');
  const { MqttSensors } = await import('../../../drivers/sensors/mqtt.js');
  const { sensorStoreFor } = await import('../../../drivers/sensors/index.js');
  const { OutputBank } = await import('../../actuators/output-bank.js');
  const { loadManifest, findVariant } = await import('../../model/manifest.js');
  const { prepareDecoder, stretchGeometry } = await import('../../decode/index.js');
  const ort = (await import('onnxruntime-node')).default;

  const broker = await startBroker({ log });
  const store = sensorStoreFor(sensorsCfg, () => clock.wall());
  const mqttSensors = Object.fromEntries(Object.entries(sensorsCfg.inputs).filter(([, s]) => s.type === 'mqtt')) as Record<string, import('../../config/sections/sensors.js').MqttSensorConfig>;
  const input = new MqttSensors({ url: broker.url, sensors: mqttSensors, log });
  const bank = new OutputBank(Object.fromEntries(Object.entries(config.outputs).map(([n, o]) => [n, { ...o, driver: { type: 'dry-run' as const } }])), {
    clock,
    timers: clock,
    simulateJournal: journal,
    log,
    ledgerDir: join(opts.stateDir, 'outputs'),
  });
  const ctl = new IrrigationController(irr, { store, valves: bank, now: () => clock.wall(), ledgerFile, log });
  const manifest = loadManifest(join(root, 'models', 'field-demo', 'manifest.json'));
  const variant = findVariant(manifest, 'student-fp32');
  const session = await ort.InferenceSession.create(join(manifest.dir, variant.file), { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const [, , ih, iw] = manifest.input.shape as [number, number, number, number];
  const decode = prepareDecoder(manifest.decoder, manifest.labels);
  const geometry = stretchGeometry(iw, ih, iw, ih);
  const pub = await connectAsync(broker.url, { reconnectPeriod: 0 });
  const decisions: Decision[] = [];
  const openings: FarmDayResult['openings'] = [];
  const zoneNames = Object.keys(irr.zones);
  const scores: number[][] = zoneNames.map(() => []);
  try {
    await input.start(store);
    await bank.start();
    ctl.start();
    const frames = await decodeFrames(scene.video, iw, ih);
    const byFrame = new Map<number, Array<[string, number]>>();
    for (const [sensor, readings] of Object.entries(truth.readings)) for (const [f, v] of readings) byFrame.set(f, [...(byFrame.get(f) ?? []), [sensor, v]]);
    const tensor = new Float32Array(3 * iw * ih);
    for (let t = 0; t < frames.length; t++) {
      await clock.advanceTo(start + t * frameMs);
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
      const px = frames[t]!;
      const plane = iw * ih;
      for (let i = 0; i < plane; i++) {
        tensor[i] = px[i * 3]! / 255;
        tensor[plane + i] = px[i * 3 + 1]! / 255;
        tensor[2 * plane + i] = px[i * 3 + 2]! / 255;
      }
      const out = await session.run({ [manifest.input.name]: new ort.Tensor('float32', tensor, [1, 3, ih, iw]) });
      const outputs = Object.fromEntries(Object.entries(out).map(([k, v]) => [k, { data: v.data as Float32Array, dims: [...v.dims] }]));
      const dets: Detection[] = decode(outputs, { spec: manifest.decoder, labels: manifest.labels, inputWidth: iw, inputHeight: ih, geometry });
      zoneNames.forEach((z, i) => scores[i]!.push(cameraVerdict({ ...irr.zones[z]!, camera: { ...irr.zones[z]!.camera, labels: { dry_soil: 0 } } }, dets).score));
      for (const d of await ctl.step(dets, at)) {
        decisions.push(d);
        if (d.action === 'open') openings.push({ frame: t, zone: d.zone, durationS: d.durationS!, atMs: at, reason: d.reason });
      }
    }
    await clock.advanceTo(start + frames.length * frameMs);
  } finally {
    await pub.endAsync().catch(() => undefined);
    await input.stop().catch(() => undefined);
    await bank.stop().catch(() => undefined);
    await session.release().catch(() => undefined);
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
