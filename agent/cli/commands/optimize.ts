import { AgentError, ExitCode } from '../../errors.js';
import { createLogger } from '../../log.js';
import { resolveStateDir } from '../../paths.js';
import { parseCommandArgs } from '../args.js';

export const summary = 'quantise a model to int8 (calibrated on your own frames) and/or fp16, measure it, add the variants';

const usage = `
usage: edge-agent optimize --model MANIFEST (--calibration DIR | --source URI --frames N) [options]

Post-training static int8 quantisation of an fp32 ONNX variant, calibrated on frames of the scene the camera
will watch, plus an optional fp16 variant for GPU targets. It searches calibration methods, symmetric and
asymmetric activation ranges, weight bits suited to this CPU's int8 instructions, and leaves the most sensitive
layers float one by one, scoring each candidate by its agreement with fp32 on held-out frames. Only a variant
that meets the floor (--min-agreement) and is faster than fp32 here is written; otherwise nothing is written,
the manifest is untouched and the one-line reason says what was tried and the best reached (exit 65).
The int8 candidate is profiled with ONNX Runtime: the report shows per operator how many layers ran as int8
kernels (QLinearConv...) and how many as float kernels with QuantizeLinear/DequantizeLinear around them. The
agreement of every variant written is also recorded in the bench cache (--state-dir), so doctor and run use
it as measured on this device without a bench --frames run.

  --model PATH         model manifest (or its folder)
  --variant NAME       fp32 ONNX variant to start from (default: the first one)
  --calibration DIR    folder of JPEG/PNG/BMP images (at least 8; dozens to hundreds is better)
  --augment            also use a mirror image and two 75% crops of every calibration image
  --source URI         video file, RTSP/HTTP stream or camera ffmpeg can open; with --frames N
  --frames N           frames to take from --source (spread over a file)
  --out DIR            write the new files and a new manifest into DIR (original untouched);
                       default: add them to the model's own folder and manifest
  --precision P        int8 (default), fp16 or both
  --method M           activation ranges: minmax, percentile or entropy (default: try all three)
  --min-agreement A    the floor, 0..1 (default 0.95, as model.selection.minAgreement)
  --min-speedup X      least speed-up over fp32 to write a variant (default 1: must be faster)
  --asymmetric-only    do not try symmetric activation ranges
  --max-float N        most layers the search may leave float to reach the floor (default max(3, layers/4))
  --percentile P       kept percentage for --method percentile (default 99.99)
  --min-sqnr DB        leave a layer float when its weight or output SQNR is below DB (default 20)
  --weight-bits B      7 or 8; default from this CPU (doctor shows its flags): 8 with AVX-512 VNNI, AVX-VNNI
                       or ARM dot product; 7 on x86 AVX2 without VNNI (its u8*s8 pairs saturate int16)
  --eval DIR           demo-scene folder (conveyor.mp4, truth.json, boxes.jsonl) for mAP@0.5; repeatable
  --eval-frames N      frames to use from each --eval folder, spread over its clip (default 150)
  --state-dir DIR      bench cache to record each written variant's agreement in, for doctor and run
                       (default: $STATE_DIRECTORY or ./state, as bench and doctor)
  --json               print the report as JSON on stdout
`;

function intOpt(name: string, raw: string | undefined, lo: number, hi: number): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < lo || n > hi) throw new AgentError('USAGE', `--${name} ${raw} is not an integer from ${lo} to ${hi}`, { fix: `e.g. --${name} ${lo}` });
  return n;
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals, help } = parseCommandArgs(
    argv,
    {
      model: { type: 'string' },
      variant: { type: 'string' },
      calibration: { type: 'string' },
      augment: { type: 'boolean' },
      source: { type: 'string' },
      frames: { type: 'string' },
      out: { type: 'string' },
      precision: { type: 'string' },
      method: { type: 'string' },
      'min-agreement': { type: 'string' },
      'min-speedup': { type: 'string' },
      'asymmetric-only': { type: 'boolean' },
      'max-float': { type: 'string' },
      percentile: { type: 'string' },
      'min-sqnr': { type: 'string' },
      'weight-bits': { type: 'string' },
      eval: { type: 'string', multiple: true },
      'eval-frames': { type: 'string' },
      'state-dir': { type: 'string' },
      json: { type: 'boolean' },
    },
    usage,
  );
  if (help) return ExitCode.ok;
  if (positionals.length) throw new AgentError('USAGE', `unexpected argument "${positionals[0]}"`, { fix: 'see edge-agent optimize --help' });
  if (!values.model) throw new AgentError('USAGE', '--model is required', { fix: 'give the model manifest: --model models/x/manifest.json' });
  if (!!values.calibration === !!values.source) {
    throw new AgentError('USAGE', 'give either --calibration DIR or --source URI --frames N', { fix: 'calibration needs frames of the scene: a folder of images or a video/camera' });
  }
  const frames = intOpt('frames', values.frames, 1, 100000);
  if (values.source && frames === undefined) throw new AgentError('USAGE', '--source needs --frames N', { fix: 'e.g. --frames 64' });
  const precision = values.precision ?? 'int8';
  if (!['int8', 'fp16', 'both'].includes(precision)) throw new AgentError('USAGE', `--precision ${precision} is not int8, fp16 or both`, { fix: 'e.g. --precision both' });
  const method = values.method;
  if (method !== undefined && !['minmax', 'percentile', 'entropy'].includes(method)) throw new AgentError('USAGE', `--method ${method} is not minmax, percentile or entropy`, { fix: 'e.g. --method percentile' });
  const percentile = values.percentile === undefined ? undefined : Number(values.percentile);
  if (percentile !== undefined && !(percentile > 90 && percentile < 100)) throw new AgentError('USAGE', `--percentile ${values.percentile} must be between 90 and 100`, { fix: 'e.g. --percentile 99.99' });
  const minSqnr = values['min-sqnr'] === undefined ? undefined : Number(values['min-sqnr']);
  if (minSqnr !== undefined && !Number.isFinite(minSqnr)) throw new AgentError('USAGE', `--min-sqnr ${values['min-sqnr']} is not a number`, { fix: 'e.g. --min-sqnr 20' });
  const weightBits = intOpt('weight-bits', values['weight-bits'], 7, 8) as 7 | 8 | undefined;
  const fraction = (name: string, raw: string | undefined, lo: number, hi: number): number | undefined => {
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < lo || n > hi) throw new AgentError('USAGE', `--${name} ${raw} is not a number from ${lo} to ${hi}`, { fix: `e.g. --${name} ${name === 'min-agreement' ? '0.95' : '1.2'}` });
    return n;
  };
  const minAgreement = fraction('min-agreement', values['min-agreement'], 0, 1);
  const minSpeedup = fraction('min-speedup', values['min-speedup'], 0, 100);
  const maxFloat = intOpt('max-float', values['max-float'], 0, 10000);

  const log = createLogger({ level: (process.env.EDGE_AGENT_LOG_LEVEL as 'info' | undefined) ?? (values.json ? 'warn' : 'info') });
  // Loaded here so that --help and usage errors never load ONNX Runtime.
  const { optimize } = await import('../../../scripts/optimize/optimize.js');
  const { createProgress } = await import('../../../scripts/optimize/progress.js');
  const { formatReport } = await import('../../../scripts/optimize/report.js');
  const progress = createProgress(process.stderr, log);
  const { probeHardware } = await import('../../app/compose.js');
  const { hardwareFingerprint } = await import('../../select/bench-cache.js');
  const benchCache = { stateDir: resolveStateDir({ flag: values['state-dir'] }), fingerprint: hardwareFingerprint((await probeHardware()).profile) };
  try {
    const report = await optimize({
      manifest: values.model,
      variant: values.variant,
      calibration: values.calibration ? { dir: values.calibration, augment: values.augment } : { source: values.source!, frames: frames! },
      outDir: values.out,
      precision: precision as 'int8',
      method: method as 'minmax' | undefined,
      minAgreement,
      minSpeedup,
      symmetric: !values['asymmetric-only'],
      maxFloatLayers: maxFloat,
      percentile,
      minSqnrDb: minSqnr,
      weightBits,
      evalDirs: values.eval,
      evalFrames: intOpt('eval-frames', values['eval-frames'], 1, 100000),
      command: ['edge-agent', 'optimize', ...argv].join(' '),
      benchCache,
      log,
      progress: progress.update,
    });
    progress.stop();
    process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`);
    return ExitCode.ok;
  } finally {
    progress.stop();
  }
}
