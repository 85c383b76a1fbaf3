import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, relative, resolve } from 'node:path';
import { AgentError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { findVariant, loadManifest, verifyVariantFile, variantInput, type LoadedManifest, type VariantSpec } from '../model/manifest.js';
import { countFlops, createRunner, encodeModel, measureLatencies } from '../../drivers/onnx/index.js';
import { calibrate } from './calibrate.js';
import { edgeTpuAdvice } from './edgetpu.js';
import { agreement, detectAll, loadSceneTruth, meanAP, type Agreement } from './evaluate.js';
import { toFloat16 } from './fp16.js';
import { framesFromFolder, framesFromSource, type ModelFrame } from './frames.js';
import type { CalibrationMethod } from './histogram.js';
import { layerTable, type LayerReport } from './layers.js';
import { activationTensors, findTargets, type QuantTarget } from './plan.js';
import { prepareModel } from './prepare.js';
import { buildQdqModel } from './qdq.js';
import { checkFree, mergedManifest, writeAtomically } from './write.js';

export const MIN_CALIBRATION_FRAMES = 8;

export interface OptimizeOptions {
  manifest: string;
  /** Source variant; default: the first fp32 ONNX Runtime variant. */
  variant?: string;
  calibration: { dir: string; augment?: boolean } | { source: string; frames: number };
  /** Output folder; default: the model's own folder (its manifest is updated). */
  outDir?: string;
  method: CalibrationMethod;
  percentile?: number;
  precision: 'int8' | 'fp16' | 'both';
  /** Demo-scene folder with ground truth (conveyor.mp4, truth.json, boxes.jsonl) for mAP@0.5. */
  evalDirs?: string[];
  /** Frames per --eval folder (spread over its clip). */
  evalFrames?: number;
  /** Layers whose weight or output SQNR is below this stay float. */
  minSqnrDb?: number;
  /** 7 (default) or 8 bit weights; see quant-math.ts quantizePerChannel. */
  weightBits?: 7 | 8;
  /** Recorded as provenance. */
  command: string;
  /** Device key for latencyMs, e.g. "x86_64-cpu". */
  deviceKey?: string;
  latencyRuns?: number;
  log?: Logger;
  progress?: (done: number, total: number, stage: string) => void;
}

export interface VariantReport {
  name: string;
  precision: 'fp32' | 'int8' | 'fp16';
  file?: string;
  /** Wall-clock median (what goes into the manifest), fastest run, and median CPU time per inference. */
  latencyMs: number;
  minMs?: number;
  cpuMs?: number;
  accuracy?: { mAP50?: number; perClass?: Record<string, number>; agreement?: Agreement; dataset: string };
  sha256?: string;
  flops?: number;
}

export interface OptimizeReport {
  model: string;
  source: VariantReport;
  /** Latency of the source graph after the float clean-up (what int8 is really compared with). */
  preparedFp32: { latencyMs: number; minMs: number; cpuMs: number };
  variants: VariantReport[];
  layers: LayerReport[];
  excluded: string[];
  /** MaxPool layers that every new variant runs as two one-dimensional pools (bit-identical, faster). */
  splitPools: string[];
  calibration: { frames: number; heldOut: number; method: CalibrationMethod; weightBits: number };
  manifest: string;
  edgeTpu: string;
}

function newName(src: string, precision: string): string {
  return /fp32/.test(src) ? src.replace(/fp32/, precision) : `${src}-${precision}`;
}

function pickSource(m: LoadedManifest, name?: string): VariantSpec {
  const v = name ? findVariant(m, name) : m.variants.find((x) => x.runtime === 'onnxruntime' && x.precision === 'fp32');
  if (!v) throw new AgentError('USAGE', `model ${m.name} has no fp32 ONNX variant to optimize`, { fix: 'name one with --variant' });
  if (v.runtime !== 'onnxruntime' || v.precision !== 'fp32') {
    throw new AgentError('USAGE', `variant ${v.name} is ${v.precision} ${v.runtime}; optimize needs an fp32 ONNX variant`, { fix: 'pick the fp32 variant with --variant' });
  }
  return v;
}

export async function optimize(o: OptimizeOptions): Promise<OptimizeReport> {
  const log = (o.log ?? silentLogger).child({ component: 'optimize' });
  const m = loadManifest(o.manifest);
  if (!/\.json$/i.test(m.path) && !o.outDir) {
    throw new AgentError('USAGE', `${m.path} is YAML; optimize rewrites JSON manifests only`, { fix: 'pass --out DIR to write a new manifest.json there' });
  }
  const src = pickSource(m, o.variant);
  const srcFile = await verifyVariantFile(m, src);
  const input = variantInput(m, src);
  const outDir = resolve(o.outDir ?? m.dir);
  const wanted: Array<'int8' | 'fp16'> = o.precision === 'both' ? ['int8', 'fp16'] : [o.precision];
  const names = wanted.map((p) => newName(src.name, p));
  checkFree(m, outDir, names, names.map((n) => `${n}.onnx`));

  // Frames first: a bad folder or URI fails before any model work.
  const progress = o.progress ?? (() => undefined);
  const all = 'dir' in o.calibration ? await framesFromFolder(o.calibration.dir, input, { augment: o.calibration.augment }) : await framesFromSource(o.calibration.source, o.calibration.frames, input);
  const where = 'dir' in o.calibration ? o.calibration.dir : o.calibration.source;
  if (all.length < MIN_CALIBRATION_FRAMES) {
    throw new AgentError('USAGE', `only ${all.length} calibration frame(s) from ${where}; at least ${MIN_CALIBRATION_FRAMES} are needed`, {
      fix: 'add more images of the scene the camera will watch (dozens to a few hundred), or use --source URI --frames N',
    });
  }
  // Hold out every 4th frame for the agreement check when there are enough frames; otherwise reuse them (and say so).
  const canHold = all.length >= 2 * MIN_CALIBRATION_FRAMES;
  const calib = canHold ? all.filter((_, i) => i % 4 !== 3) : all;
  const heldOut = canHold ? all.filter((_, i) => i % 4 === 3) : all;
  log.info({ frames: calib.length, heldOut: heldOut.length, source: where }, 'calibration frames ready');

  const bytes = readFileSync(srcFile);
  const prep = await prepareModel(bytes, srcFile);
  const targets = findTargets(prep);
  if (targets.length === 0 && wanted.includes('int8')) {
    throw new AgentError('MODEL_INVALID', `${srcFile} has no Conv, Gemm or MatMul layer with constant weights to quantise`, { fix: 'int8 quantisation helps only models built from such layers; try --precision fp16' });
  }
  const weightBits = o.weightBits ?? 7;
  const minSqnrDb = o.minSqnrDb ?? 20;
  const produced: Array<{ name: string; precision: 'int8' | 'fp16'; bytes: Uint8Array }> = [];
  let layers: LayerReport[] = [];
  if (wanted.includes('int8')) {
    const stats = await calibrate(prep, activationTensors(targets), calib.map((f) => f.tensor), {
      method: o.method,
      percentile: o.percentile,
      log,
      progress: (d, t, stage) => progress(d, t, stage),
    });
    const params = new Map([...stats].map(([k, v]) => [k, v.params]));
    const build = (keep: QuantTarget[]): Uint8Array => {
      const tensors = new Set(activationTensors(keep));
      return encodeModel(buildQdqModel(prep, keep, new Map([...params].filter(([k]) => tensors.has(k))), { reduceRange: weightBits === 7 }).model);
    };
    const first = buildQdqModel(prep, targets, params, { reduceRange: weightBits === 7 });
    layers = layerTable(targets, stats, first.weightErrors, minSqnrDb);
    let keep = targets.filter((t) => layers.find((l) => l.layer === t.name)!.quantised);
    let qBytes = keep.length === targets.length ? encodeModel(first.model) : build(keep);
    // Speed check, measured: the layers nearest the image are often slower in int8 than in float (a layer reading the
    // image has 3 input channels, K = 27 for a 3x3 kernel: too little depth for the quantised im2col/GEMM), and where
    // float meets int8 ONNX Runtime adds a layout change and a quantise. Time the model with a float prefix of 0, 1,
    // 2 and 3 levels (the layers reading the image, then the next layers in graph order) in interleaved rounds, and
    // keep the fastest; each longer prefix must win by 3 % to be taken. Demo student, CPU ms in two runs: all int8
    // 3.23 / 5.03, one float layer 2.77 / 4.14, two 2.76 / 4.06, three 2.88 / 4.03 (one layer kept).
    const prefixes = floatPrefixes(keep, prep.inputName, 3);
    if (prefixes.length) {
      const candidates = [qBytes, ...prefixes.map((p) => build(keep.filter((t) => !p.includes(t))))];
      progress(0, 1, 'speed check: float prefix');
      const lat = await measureLatencies(candidates, { [prep.inputName]: all[0]!.tensor }, { runs: 30 });
      progress(1, 1, 'speed check: float prefix');
      let best = 0;
      for (let k = 1; k < candidates.length; k++) if (lat[k]!.cpuMedianMs < lat[best]!.cpuMedianMs * 0.97) best = k;
      if (best > 0) {
        const prefix = prefixes[best - 1]!;
        for (const t of prefix) {
          const row = layers.find((l) => l.layer === t.name)!;
          row.quantised = false;
          row.reason = `faster in float on this CPU (whole model ${lat[best]!.cpuMedianMs.toFixed(2)} ms CPU with the first ${prefix.length} layer(s) in float vs ${lat[0]!.cpuMedianMs.toFixed(2)} ms with them in int8)`;
        }
        keep = keep.filter((t) => !prefix.includes(t));
        qBytes = candidates[best]!;
      }
      log.info({ prefixes: prefixes.map((p) => p.map((t) => t.name)), cpuMs: lat.map((l) => Number(l.cpuMedianMs.toFixed(3))), floatLayers: best ? prefixes[best - 1]!.length : 0 }, 'float-prefix speed check');
    }
    produced.push({ name: newName(src.name, 'int8'), precision: 'int8', bytes: qBytes });
  }
  if (wanted.includes('fp16')) produced.push({ name: newName(src.name, 'fp16'), precision: 'fp16', bytes: encodeModel(toFloat16(prep.model)) });

  // Latency: this machine's CPU, 1 thread, median after warm-up, all models timed in interleaved rounds. The
  // cleaned fp32 graph (prepared: BN folded, constants folded) is timed too, so that the int8 gain is not
  // confused with what the clean-up alone gives.
  const feed = { [prep.inputName]: all[0]!.tensor };
  progress(0, 1, 'latency');
  const [srcLatency, preparedLatency, ...newLatency] = await measureLatencies([bytes, encodeModel(prep.model), ...produced.map((p) => p.bytes)], feed, { runs: o.latencyRuns ?? 50 });
  progress(1, 1, 'latency');
  const lat = new Map(produced.map((p, i) => [p.name, newLatency[i]!]));

  // Accuracy: mAP on a labelled scene when given, agreement with fp32 on the held-out frames always.
  let evalSet: { frames: ModelFrame[]; truth: ReturnType<typeof loadSceneTruth>['frames'] } | undefined;
  if (o.evalDirs?.length) {
    evalSet = { frames: [], truth: [] };
    for (const dir of o.evalDirs) {
      const t = loadSceneTruth(dir, m.labels);
      const frames = await framesFromSource(t.video, o.evalFrames ?? 150, input);
      evalSet.frames.push(...frames);
      evalSet.truth.push(...frames.map((f) => t.frames[f.index ?? 0] ?? []));
    }
  }
  const evalFrames = evalSet?.frames ?? heldOut;
  const dataset = evalSet
    ? `${o.evalDirs!.map((d) => basename(resolve(d))).join(', ')}: ${evalSet.frames.length} frames with ground truth`
    : `${heldOut.length} ${canHold ? 'held-out' : 'calibration (too few to hold out)'} frames from ${where}, agreement with ${src.name}`;
  const refRunner = await createRunner(bytes);
  const ref = await detectAll(refRunner, evalFrames, m, input, prep.inputName, (d, t) => progress(d, t, `evaluate ${src.name}`));
  await refRunner.release();
  const source: VariantReport = { name: src.name, precision: 'fp32', latencyMs: srcLatency!.medianMs, minMs: srcLatency!.minMs, cpuMs: srcLatency!.cpuMedianMs };
  if (evalSet) source.accuracy = { ...meanAP(ref, evalSet.truth, m.labels), dataset };
  const variants: VariantReport[] = [];
  const added: VariantSpec[] = [];
  const flops = countFlops(prep.model).total;
  for (const p of produced) {
    const r = await createRunner(p.bytes);
    const dets = await detectAll(r, evalFrames, m, input, prep.inputName, (d, t) => progress(d, t, `evaluate ${p.name}`));
    await r.release();
    const agree = agreement(ref, dets, evalFrames);
    const map = evalSet ? meanAP(dets, evalSet.truth, m.labels) : undefined;
    const sha256 = createHash('sha256').update(p.bytes).digest('hex');
    const l = lat.get(p.name)!;
    const rep: VariantReport = { name: p.name, precision: p.precision, file: `${p.name}.onnx`, latencyMs: l.medianMs, minMs: l.minMs, cpuMs: l.cpuMedianMs, sha256, flops, accuracy: { ...map, agreement: agree, dataset } };
    variants.push(rep);
    const excluded = layers.filter((l) => !l.quantised).map((l) => l.layer);
    added.push({
      name: p.name,
      file: `${p.name}.onnx`,
      runtime: 'onnxruntime',
      ...(src.input ? { input: src.input } : {}),
      accelerator: p.precision === 'fp16' ? 'cuda' : 'cpu',
      precision: p.precision,
      sha256,
      flops,
      latencyMs: { [o.deviceKey ?? `${process.arch === 'x64' ? 'x86_64' : process.arch}-cpu`]: Number(rep.latencyMs.toFixed(2)) },
      ...(map ? { accuracy: { mAP50: clamp01(map.mAP50), perClass: map.perClass, dataset } } : {}),
      ...(await knownAnswerFor(m, src, outDir, p.bytes, prep.inputName, p.precision)),
      provenance:
        `${o.command} (${p.precision === 'int8' ? `static int8 QDQ, ${o.method} calibration on ${calib.length} frames, weights per-channel symmetric ${weightBits}-bit, activations uint8; ` +
          `agreement with ${src.name}: ${(agree.recall * 100).toFixed(1)}% of its detections on ${dataset}` + (excluded.length ? `; left float: ${excluded.join(', ')}` : '') : `float16 weights and compute, float32 inputs/outputs; agreement with ${src.name}: ${(agree.recall * 100).toFixed(1)}%`})`,
    });
  }
  const manifestName = basename(m.path).replace(/\.ya?ml$/i, '.json');
  const doc = mergedManifest(m, outDir, added);
  writeAtomically(outDir, manifestName, doc, produced.map((p) => ({ name: `${p.name}.onnx`, bytes: p.bytes })));
  log.info({ manifest: resolve(outDir, manifestName), variants: produced.map((p) => p.name) }, 'optimized variants written');
  return {
    model: m.name,
    source,
    preparedFp32: { latencyMs: preparedLatency!.medianMs, minMs: preparedLatency!.minMs, cpuMs: preparedLatency!.cpuMedianMs },
    variants,
    layers,
    excluded: layers.filter((l) => !l.quantised).map((l) => l.layer),
    splitPools: prep.splitPools,
    calibration: { frames: calib.length, heldOut: heldOut.length, method: o.method, weightBits },
    manifest: resolve(outDir, manifestName),
    edgeTpu: edgeTpuAdvice(m.name),
  };
}

/**
 * A known answer for the new variant (so `doctor` can check that a board really computes it): the source
 * variant's stored input, with the new model's own outputs at the same indices. Quantised kernels round
 * differently across CPUs (x86 and ARM), hence the wider tolerance.
 */
async function knownAnswerFor(m: LoadedManifest, src: VariantSpec, outDir: string, model: Uint8Array, inputName: string, precision: 'int8' | 'fp16'): Promise<{ knownAnswer?: VariantSpec['knownAnswer'] }> {
  const ka = src.knownAnswer;
  if (!ka) return {};
  const inputFile = resolve(m.dir, ka.input);
  const raw = readFileSync(inputFile);
  const data = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const dims = variantInput(m, src).shape;
  const runner = await createRunner(model);
  try {
    const out = await runner.run({ [inputName]: { data, dims } });
    const expect: Record<string, Array<[number, number]>> = {};
    for (const [name, pairs] of Object.entries(ka.expect)) {
      const t = out[name];
      if (!t) return {};
      expect[name] = pairs.map(([i]) => [i, Number(t.data[i]!.toPrecision(6))]);
    }
    const peak = Math.max(...Object.values(expect).flatMap((p) => p.map(([, v]) => Math.abs(v))));
    const tolerance = Number(Math.max(precision === 'int8' ? 0.05 : 0.01, peak * (precision === 'int8' ? 0.02 : 0.002)).toPrecision(3));
    return { knownAnswer: { input: relative(outDir, inputFile), expect, tolerance } };
  } finally {
    await runner.release();
  }
}

const clamp01 = (x: number): number => Math.min(1, Math.max(0, x));

/**
 * Float prefixes to try, shortest first: the layers reading the graph input, then one more layer at a time in graph
 * order, up to `levels` levels; never all the quantised layers.
 */
export function floatPrefixes(keep: QuantTarget[], inputName: string, levels: number): QuantTarget[][] {
  const firsts = keep.filter((t) => t.input === inputName);
  if (!firsts.length) return [];
  const rest = keep.filter((t) => !firsts.includes(t));
  const out: QuantTarget[][] = [];
  for (let k = 0; k < levels && firsts.length + k < keep.length; k++) out.push([...firsts, ...rest.slice(0, k)]);
  return out;
}
