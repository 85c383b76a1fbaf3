import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseCommandArgs } from '../args.js';
import { AgentError, ExitCode } from '../../errors.js';
import { createLogger } from '../../log.js';
import { loadConfigFile, type LoadedConfig } from '../../config/load.js';
import type { SourceConfig } from '../../config/sections/source.js';
import type { RunSummary } from '../../agent.js';
import { composeAgent } from '../../app/compose.js';
import { demoConfigPath, demoSceneDir, DEMO_SEED, resolveStateDir } from '../../paths.js';
import { installSafetyHooks } from '../../actuators/index.js';

export const summary = 'run the agent (default: the built-in conveyor demo)';

const usage = `
usage: edge-agent run [--config FILE] [--source URI] [--until-eof] [--events-out FILE]
                      [--simulate-outputs FILE] [--mqtt URL] [--state-dir DIR] [--json]

  --config FILE            configuration (YAML); default: the built-in conveyor demo
  --source URI             override the camera: a video file, /dev/videoN, rtsp://... or http(s)://...
  --until-eof              read a file source as fast as the pipeline allows, process every frame, exit at its end;
                           decided in the clip's own time (a replay: the same decisions as the clip played live,
                           simulated pulses journaled at their media time)
  --events-out FILE        append one JSON anomaly event per line
  --simulate-outputs FILE  dry-run every output, journaling each change to FILE (JSON lines)
  --mqtt URL               publish anomaly events to this broker (mqtt://host:1883, mqtts://host:8883)
  --state-dir DIR          where the outbox and caches live (default: $STATE_DIRECTORY, /var/lib/edge-agent
                           under systemd, else ./state)
  --json                   print the end-of-run summary as JSON
`;

export async function run(argv: string[]): Promise<number> {
  const { values, help } = parseCommandArgs(
    argv,
    {
      config: { type: 'string' },
      source: { type: 'string' },
      'until-eof': { type: 'boolean' },
      'events-out': { type: 'string' },
      'simulate-outputs': { type: 'string' },
      'state-dir': { type: 'string' },
      mqtt: { type: 'string' },
      json: { type: 'boolean' },
    },
    usage,
  );
  if (help) return ExitCode.ok;

  const builtIn = !values.config;
  const loaded = loadConfigFile(values.config ?? demoConfigPath());
  const untilEof = Boolean(values['until-eof']);
  if (values.source) loaded.config.source = sourceFromUri(values.source, loaded.config.source);
  // a --source file that is not there is said first, in one line, before the model and outputs start logging
  // (a camera that is not there is waited for: it may be plugged in later).
  const given = values.source ? loaded.config.source : undefined;
  if (given?.type === 'file' && !existsSync(given.path)) throw new AgentError('SOURCE_NOT_FOUND', `video file ${given.path} does not exist`, { fix: 'check source.path in the config or --source' });
  // ... and so is one ffprobe cannot read (a clip cut before its index): before the model host logs anything.
  if (given?.type === 'file') await (await import('../../../drivers/camera/tools.js')).ffprobe(given.path);
  if (untilEof) {
    const src = loaded.config.source;
    if (src.type === 'file') loaded.config.source = { ...src, pace: 'fast', loop: false };
    else if (src.type === 'images') loaded.config.source = { ...src, loop: false };
    else throw new AgentError('USAGE', `--until-eof needs a file or image-folder source, the source is ${src.type}`, { fix: 'give a video file or a folder of images with --source, or drop --until-eof' });
  }
  const log = createLogger({ level: (process.env.EDGE_AGENT_LOG_LEVEL as typeof loaded.config.log.level | undefined) ?? loaded.config.log.level });
  const stateDir = resolveStateDir({ flag: values['state-dir'], configStateDir: loaded.config.stateDir, configBaseDir: loaded.baseDir });
  let simulate = values['simulate-outputs'];
  if (builtIn) {
    await ensureDemoClip(loaded, log);
    if (!simulate) {
      simulate = join(stateDir, 'demo-outputs.jsonl');
      log.info({ journal: simulate }, 'built-in demo: outputs are simulated (no GPIO is touched)');
    }
  }

  // #22 finding 8: a replay is decided in media time; real outputs cannot follow it (they would switch faster than
  // the line moves), so their pulses stay on the wall clock while the file is read faster than real time.
  if (untilEof && !simulate && Object.keys(loaded.config.outputs).length) log.warn({ outputs: Object.keys(loaded.config.outputs) }, 'a replay drives real outputs: their pulses are timed on the wall clock while the clip is read faster than real time, so they may overlap; give --simulate-outputs FILE to rehearse them in the clip\'s time');
  const agent = composeAgent({
    loaded,
    log,
    mode: untilEof ? 'lossless' : 'latest',
    eventsOut: values['events-out'] && resolve(values['events-out']),
    simulateOutputs: simulate && resolve(simulate),
    mqttUrl: values.mqtt,
    stateDir,
  });
  let stopping: Promise<void> | undefined;
  const removeHooks = installSafetyHooks({ safeAllSync: (r) => agent.outputs()?.safeAllSync(r) ?? true }, log, {
    onSignal: async (signal) => {
      log.info({ signal }, 'stopping');
      agent.requestStop();
      stopping ??= agent.stop();
      await stopping;
    },
    exitDeadlineMs: 10_000,
  });
  const onHup = (): void => {
    void agent.reload().then((r) => (r.applied ? log.info(r.message) : log.error(r.message)));
  };
  process.on('SIGHUP', onHup);
  try {
    await agent.start();
    const result = await agent.run();
    // A finite run waits a little for its events to reach the broker; the rest stay queued on disk.
    stopping ??= agent.stop(untilEof ? 5_000 : 0);
    await stopping;
    if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else process.stdout.write(formatSummary(result));
    return ExitCode.ok;
  } catch (err) {
    await agent.stop().catch(() => undefined);
    throw err;
  } finally {
    process.off('SIGHUP', onHup);
    removeHooks();
  }
}

/** `--source` URI -> source config, keeping the configured restart policy. */
export function sourceFromUri(uri: string, prev: SourceConfig): SourceConfig {
  const restart = prev.restart;
  if (/^(rtsps?|https?):\/\//.test(uri)) return { type: 'rtsp', url: uri, transport: 'tcp', restart };
  if (/^\/dev\/video\d+$/.test(uri)) return { type: 'v4l2', device: uri, width: 640, height: 480, fps: 15, pixelFormat: 'mjpeg', restart };
  if (existsSync(uri) && statSync(uri).isDirectory()) return { type: 'images', dir: resolve(uri), fps: 1, loop: false, restart };
  return { type: 'file', path: resolve(uri), pace: prev.type === 'file' ? prev.pace : 'realtime', loop: prev.type === 'file' ? prev.loop : true, restart };
}

async function ensureDemoClip(loaded: LoadedConfig, log: ReturnType<typeof createLogger>): Promise<void> {
  const src = loaded.config.source;
  if (src.type !== 'file') return;
  const clip = resolve(loaded.baseDir, src.path);
  if (clip !== join(demoSceneDir(), 'conveyor.mp4')) return;
  // The bundled demo clip is rendered on first use, and again when the generator has changed since.
  const { ensureScene } = await import('../../../scripts/demo-scene/index.js');
  const t0 = performance.now();
  const { video, written } = await ensureScene(demoSceneDir(), DEMO_SEED);
  if (written) log.info({ seed: DEMO_SEED, dir: demoSceneDir(), ms: Math.round(performance.now() - t0) }, 'generated the demo clip');
  src.path = video;
}

function restartsText(r: RunSummary['restarts']): string {
  const parts = Object.entries(r).filter(([, n]) => n > 0).map(([c, n]) => `${c} ${n}`);
  return parts.length ? `; restarts: ${parts.join(', ')}` : '';
}

function sinkText(f: RunSummary['sinkFailures']): string {
  const parts = Object.entries(f).map(([s, n]) => `${s} ${n}`);
  return parts.length ? `; events a sink failed: ${parts.join(', ')}` : '';
}

/** a replay says that it was decided on the clip's timestamps, and what the outputs were timed on. */
function replayText(p: NonNullable<RunSummary['replay']>): string {
  const outputs = p.outputs === 'media time' ? 'pulses journaled at their media time' : 'outputs are real, so their pulses were timed on the wall clock';
  return `replayed in media time: ${p.mediaSeconds.toFixed(1)} s of clip; tracker, persistence, cooldowns, schedule windows and event times follow the clip's timestamps; ${outputs}`;
}

export function formatSummary(r: RunSummary): string {
  const s = r.stages;
  const f = (x: number): string => x.toFixed(1);
  const lines = [
    `processed ${r.frames} frames from ${r.source} in ${r.seconds.toFixed(1)} s (${r.fps.toFixed(1)} fps), model ${r.model.name}/${r.model.variant} on ${r.model.accelerator} (inference in the ${r.inferenceThread} thread)`,
    `anomalies: ${r.firings}; events written: ${r.events}${r.eventsFailed ? ` (${r.eventsFailed} refused by every sink)` : ''}; output pulses: ${r.pulses.scheduled} scheduled, ${r.pulses.fired} fired, ${r.pulses.missed} missed, ${r.pulses.refused} refused, ${r.pulses.failed} failed${r.pulses.stuck ? `, ${r.pulses.stuck} stuck` : ''}; frames dropped: ${r.dropped}${restartsText(r.restarts)}${sinkText(r.sinkFailures)}${r.skipped ? `; inferences skipped (motion gate / frame-rate cap): ${r.skipped}${r.energySavedJ !== undefined ? `, saving about ${r.energySavedJ.toFixed(1)} J` : ''}` : ''}`,
    `latency ms p50/p99: ${r.packing === 'inference thread' ? 'preprocess in the inference thread (counted in inference)' : `preprocess ${f(s.preprocess.p50)}/${f(s.preprocess.p99)}`}, inference ${f(s.inference.p50)}/${f(s.inference.p99)}, decode ${f(s.decode.p50)}/${f(s.decode.p99)}, rules ${f(s.rules.p50)}/${f(s.rules.p99)}, capture-to-decision ${f(s.decision.p50)}/${f(s.decision.p99)}`,
  ];
  if (r.replay) lines.push(replayText(r.replay));
  // H22 finding 9: ffmpeg pads or skips a damaged or truncated input and exits 0; the summary says so.
  if (r.inputErrors) lines.push(`warning: the input is damaged or truncated: ${r.inputErrors} decoder error${r.inputErrors === 1 ? '' : 's'}; frames past the damage are missing or padded (re-encode or replace the file)`);
  return `${lines.join('\n')}\n`;
}
