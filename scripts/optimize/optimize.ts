import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, relative, resolve } from 'node:path';
import { AgentError } from '../../agent/errors.js';
import { silentLogger, type Logger } from '../../agent/log.js';
import { findVariant, loadManifest, verifyVariantFile, variantInput, type LoadedManifest, type VariantSpec } from '../../agent/model/manifest.js';
import { countFlops, createRunner, encodeModel, measureLatencies, profileKernels } from '../../drivers/onnx/index.js';
import { summariseKernels, type KernelReport } from './kernels.js';
import { edgeTpuAdvice } from './edgetpu.js';
import { agreement, detectAll, loadSceneTruth, meanAP, type Agreement } from './evaluate.js';
import { compareDetections, DEFAULT_MIN_AGREEMENT, type DetectionAgreement } from '../../agent/select/agreement.js';
import { benchCachePath, recordAgreement } from '../../agent/select/bench-cache.js';
import { int8ChoiceFor, type Int8Choice } from './cpu-int8.js';
import { searchInt8, type Trial } from './search.js';
import { probe } from '../../drivers/probe/probe.js';
import { toFloat16 } from './fp16.js';
import { framesFromFolder, framesFromSource, type ModelFrame } from './frames.js';
import type { CalibrationMethod } from './histogram.js';
import { layerTable, type LayerReport } from './layers.js';
import { activationTensors, findTargets, type QuantTarget } from './plan.js';
import { prepareModel, type PreparedModel } from './prepare.js';
import { buildQdqModel } from './qdq.js';
import { carriedFiles, checkFree, mergedManifest, writeAtomically } from './write.js';

export const MIN_CALIBRATION_FRAMES = 8;
/** Fewest fp32 detections on the held-out frames for an agreement figure to mean anything. */
export const MIN_REFERENCE_DETECTIONS = 5;

export interface OptimizeOptions {
  manifest: string;
  /** Source variant; default: the first fp32 ONNX Runtime variant. */
  variant?: string;
  calibration: { dir: string; augment?: boolean } | { source: string; frames: number };
  /** Output folder; default: the model's own folder (its manifest is updated). */
  outDir?: string;
  /** One activation calibration method; default: the search tries minmax, percentile and entropy. */
  method?: CalibrationMethod;
  percentile?: number;
  /** The floor (0..1): no int8 variant agreeing less than this with the source on held-out frames is written. Default 0.95. */
  minAgreement?: number;
  /** Least speed-up over the source (median latency ratio) for a variant to be written. Default 1 (must be faster). */
  minSpeedup?: number;
  /** Also try symmetric activation ranges (default true). */
  symmetric?: boolean;
  /** Most layers the search leaves float to reach the floor (default: a quarter of the layers, at least 3). */
  maxFloatLayers?: number;
  precision: 'int8' | 'fp16' | 'both';
  /** Demo-scene folder with ground truth (conveyor.mp4, truth.json, boxes.jsonl) for mAP@0.5. */
  evalDirs?: string[];
  /** Frames per --eval folder (spread over its clip). */
  evalFrames?: number;
  /** Layers whose weight or output SQNR is below this stay float. */
  minSqnrDb?: number;
  /** 7 or 8 bit weights; default: chosen from this CPU's int8 instructions (cpu-int8.ts). */
  weightBits?: 7 | 8;
  /** Recorded as provenance. */
  command: string;
  /** Device key for latencyMs, e.g. "x86_64-cpu". */
  deviceKey?: string;
  latencyRuns?: number;
  /**
   * The bench cache to record each written variant's agreement in (hardware fingerprint + sha256 of the variant and
   * of its reference), so that `doctor` and `run` use it as measured here without a second `bench --frames`.
   */
  benchCache?: { stateDir: string; fingerprint: string };
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
  /** Agreement with the source on the held-out frames (min of recall and precision), and the score shift. */
  agreement?: DetectionAgreement;
  sha256?: string;
  flops?: number;
  /** File size, bytes. */
  bytes?: number;
  /** Layers left in float (int8 only). */
  floatLayers?: string[];
}

/** An existing variant of the manifest timed in the same rounds (latency for every variant). */
export interface OtherVariantLatency {
  name: string;
  latencyMs: number;
  cpuMs: number;
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
  calibration: { frames: number; heldOut: number; method: CalibrationMethod; weightBits: number; symmetric: boolean; placement: string };
  /** The CPU's int8 instructions and the weight width they suggest. */
  cpu: Int8Choice & { features: string[] };
  /** The kernels ONNX Runtime ran for the int8 variant (profiled), when int8 was made. */
  kernels?: KernelReport;
  /** Every int8 configuration tried, with its agreement. */
  trials: Array<{ label: string; agreement: number; floatLayers: number }>;
  minAgreement: number;
  others: OtherVariantLatency[];
  manifest: string;
  /** The bench cache file the agreements were recorded in (absent when none was given or it could not be written). */
  benchCache?: string;
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
  const readProgress = (d: number, t: number): void => progress(d, t, 'reading and scaling calibration frames');
  const all = 'dir' in o.calibration ? await framesFromFolder(o.calibration.dir, input, { augment: o.calibration.augment, progress: readProgress }) : await framesFromSource(o.calibration.source, o.calibration.frames, input, { progress: readProgress });
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
  const cpuProfile = probe('/').cpu;
  const cpu = { ...int8ChoiceFor(cpuProfile.arch, cpuProfile.features), features: cpuProfile.features };
  const weightBits = o.weightBits ?? cpu.weightBits;
  const minSqnrDb = o.minSqnrDb ?? 20;
  const minAgreement = o.minAgreement ?? DEFAULT_MIN_AGREEMENT;
  const minSpeedup = o.minSpeedup ?? 1;
  const methods: CalibrationMethod[] = o.method ? [o.method] : ['minmax', 'percentile', 'entropy'];
  log.info({ weightBits, instructions: cpu.instructions, why: cpu.why, methods, minAgreement }, 'int8 plan');

  // The reference answer: the source model's detections on the held-out frames.
  const refRunner = await createRunner(bytes);
  const heldRef = await detectAll(refRunner, heldOut, m, input, prep.inputName, (d, t) => progress(d, t, `reference detections (${src.name})`));
  await refRunner.release();
  const refCount = heldRef.reduce((n, d) => n + d.length, 0);
  if (refCount < MIN_REFERENCE_DETECTIONS && minAgreement > 0) {
    throw new AgentError('USAGE', `${src.name} finds only ${refCount} detection(s) on the ${heldOut.length} ${canHold ? 'held-out' : 'calibration'} frames from ${where}: at least ${MIN_REFERENCE_DETECTIONS} are needed to measure agreement; nothing written`, {
      fix: 'give frames of the scene the camera will watch, with the objects the model should find in them (wrong-scene frames cannot show whether int8 keeps its answers)',
    });
  }
  const detectBytes = async (b: Uint8Array, label: string) => {
    const r = await createRunner(b);
    try {
      return await detectAll(r, heldOut, m, input, prep.inputName, (d, t) => progress(d, t, `agreement: ${label}`));
    } finally {
      await r.release();
    }
  };

  const produced: Array<{ name: string; precision: 'int8' | 'fp16'; bytes: Uint8Array; floatLayers: string[] }> = [];
  let layers: LayerReport[] = [];
  let trials: Trial[] = [];
  let chosen: Trial | undefined;
  let placement = 'as searched';
  let kernels: KernelReport | undefined;
  if (wanted.includes('int8')) {
    const search = await searchInt8({
      prep, targets, calibration: calib.map((f) => f.tensor), methods, percentile: o.percentile, weightBits, symmetric: o.symmetric ?? true,
      minSqnrDb, minAgreement, maxFloatLayers: o.maxFloatLayers ?? Math.max(3, Math.ceil(targets.length / 4)),
      detect: detectBytes, reference: heldRef, log, progress,
    });
    trials = search.trials;
    const tried = `${methods.join('/')} calibration x ${o.symmetric === false ? 'asymmetric' : 'asymmetric/symmetric'} activations, ${weightBits}-bit per-channel weights, up to ${search.trials.reduce((n, t) => Math.max(n, t.floatLayers.length), 0)} layer(s) left float`;
    if (!search.chosen) {
      const b = search.best;
      const k = await kernelCheck(b.bytes, b.keep, { [prep.inputName]: all[0]!.tensor }, log);
      throw new AgentError('MODEL_INVALID', `no int8 variant of ${m.name} reaches ${pct(minAgreement)} % agreement with ${src.name} on ${heldOut.length} ${canHold ? 'held-out' : 'calibration'} frames from ${where}: tried ${tried}; best ${pct(b.agreement.value)} % (${b.label})${k?.mostlyFloat ? `; ${k.summary}` : ''}; nothing written`, {
        fix: 'calibrate on frames of the scene the camera will watch, lower model.selection.minAgreement with --min-agreement, or keep the fp32 variant',
      });
    }
    chosen = search.chosen;
    layers = chosen.layers;
    let keep = chosen.keep;
    let qBytes = chosen.bytes;
    const layerTensors = new Set(activationTensors(targets));
    const fusedAll = [...chosen.params.keys()].filter((x) => !layerTensors.has(x));
    let fused = fusedAll;
    const build = (k: QuantTarget[], f: string[] = fused): Uint8Array => {
      const tensors = new Set([...activationTensors(k), ...f]);
      return encodeModel(buildQdqModel(prep, k, new Map([...chosen!.params].filter(([x]) => tensors.has(x))), { reduceRange: weightBits === 7 }).model);
    };
    // Placement, measured: ONNX Runtime's int8 kernels do not win everywhere. Depthwise convolutions can run slower in
    // int8 than in its float NCHWc kernels, and a SiLU that ORT fuses in float (QuickGelu) can beat QLinearSigmoid +
    // QLinearMul. Time the chosen model against the variants with depthwise layers float and/or the in-between QDQ
    // pairs removed, interleaved, and keep the fastest by 3 %; its agreement is checked again below.
    const depthwise = new Set(keep.filter((t) => isDepthwise(prep, t)).map((t) => t.name));
    const placements: Array<{ label: string; keep: QuantTarget[]; fused: string[] }> = [{ label: 'as searched', keep, fused }];
    if (depthwise.size) placements.push({ label: `${depthwise.size} depthwise layer(s) float`, keep: keep.filter((t) => !depthwise.has(t.name)), fused });
    if (fused.length) placements.push({ label: 'no QDQ between layers', keep, fused: [] });
    if (depthwise.size && fused.length) placements.push({ label: `${depthwise.size} depthwise layer(s) float, no QDQ between layers`, keep: keep.filter((t) => !depthwise.has(t.name)), fused: [] });
    if (placements.length > 1) {
      const bytesOf = placements.map((p, i) => (i === 0 ? qBytes : build(p.keep, p.fused)));
      progress(0, 1, 'speed check: placement');
      const lat = await measureLatencies(bytesOf, { [prep.inputName]: all[0]!.tensor }, { runs: 30 });
      progress(1, 1, 'speed check: placement');
      let best = 0;
      for (let k = 1; k < placements.length; k++) if (lat[k]!.cpuMedianMs < lat[best]!.cpuMedianMs * 0.97) best = k;
      log.info({ placements: placements.map((p, i) => `${p.label}: ${lat[i]!.cpuMedianMs.toFixed(3)} ms CPU`), chosen: placements[best]!.label }, 'placement speed check');
      if (best > 0) {
        const p = placements[best]!;
        layers = layers.map((l) => ({ ...l }));
        for (const t of keep.filter((x) => !p.keep.includes(x))) {
          const row = layers.find((l) => l.layer === t.name)!;
          row.quantised = false;
          row.reason = `depthwise: faster in float on this CPU (whole model ${lat[best]!.cpuMedianMs.toFixed(2)} vs ${lat[0]!.cpuMedianMs.toFixed(2)} ms CPU)`;
        }
        keep = p.keep;
        fused = p.fused;
        qBytes = bytesOf[best]!;
      }
      placement = placements[best]!.label;
    }
    // Speed check, measured: the layers nearest the image are often slower in int8 than in float (a layer reading the
    // image has 3 input channels, K = 27 for a 3x3 kernel: too little depth for the quantised im2col/GEMM), and where
    // float meets int8 ONNX Runtime adds a layout change and a quantise. Time the model with a float prefix of 0, 1,
    // 2 and 3 levels (the layers reading the image, then the next layers in graph order) in interleaved rounds, and
    // keep the fastest; each longer prefix must win by 3 % to be taken.
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
        layers = layers.map((l) => ({ ...l }));
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
    if (qBytes !== chosen.bytes) {
      // The speed checks changed the graph: its agreement must still meet the floor, else the searched one ships.
      const again = compareDetections(heldRef, await detectBytes(qBytes, 'after the speed checks'));
      if (again.value < minAgreement) {
        // A normal outcome of the search (one candidate rejected), not a problem for the user: info, like the other trials.
        log.info({ agreement: again.value }, 'the faster placement falls under the floor; keeping the searched model');
        qBytes = chosen.bytes;
        layers = chosen.layers;
        placement = 'as searched';
      }
    }
    produced.push({ name: newName(src.name, 'int8'), precision: 'int8', bytes: qBytes, floatLayers: layers.filter((l) => !l.quantised).map((l) => l.layer) });
    // Which kernels really ran: QDQ that ONNX Runtime did not fuse leaves float layers with Q/DQ work around them.
    const kept = new Set(layers.filter((l) => l.quantised).map((l) => l.layer));
    progress(0, 1, 'kernel check (ONNX Runtime profile)');
    kernels = await kernelCheck(qBytes, targets.filter((x) => kept.has(x.name)), { [prep.inputName]: all[0]!.tensor }, log);
    progress(1, 1, 'kernel check (ONNX Runtime profile)');
  }
  if (wanted.includes('fp16')) produced.push({ name: newName(src.name, 'fp16'), precision: 'fp16', bytes: encodeModel(toFloat16(prep.model)), floatLayers: [] });

  // Latency: this machine's CPU, 1 thread, median after warm-up, all models timed in interleaved rounds: the source,
  // the cleaned fp32 graph (prepared: BN folded, constants folded, so that the int8 gain is not confused with what
  // the clean-up alone gives), the new variants and every other ONNX CPU variant of the manifest with the same input.
  const others = m.variants.filter((v) => v !== src && v.runtime === 'onnxruntime' && v.accelerator === 'cpu' && JSON.stringify(variantInput(m, v)) === JSON.stringify(input));
  const otherFiles: string[] = [];
  for (const v of others) otherFiles.push(await verifyVariantFile(m, v));
  const feed = { [prep.inputName]: all[0]!.tensor };
  progress(0, 1, 'latency');
  const timed = await measureLatencies([bytes, encodeModel(prep.model), ...produced.map((p) => p.bytes), ...otherFiles.map((f) => new Uint8Array(readFileSync(f)))], feed, { runs: o.latencyRuns ?? 50 });
  progress(1, 1, 'latency');
  const [srcLatency, preparedLatency] = timed;
  const newLatency = timed.slice(2, 2 + produced.length);
  const otherLatency: OtherVariantLatency[] = others.map((v, i) => ({ name: v.name, latencyMs: timed[2 + produced.length + i]!.medianMs, cpuMs: timed[2 + produced.length + i]!.cpuMedianMs }));
  const lat = new Map(produced.map((p, i) => [p.name, newLatency[i]!]));
  for (const p of produced.filter((x) => x.precision === 'int8')) {
    // fp16 is made for GPU boards and is not held to this CPU's speed. For int8, both the wall-clock and the CPU-time ratio must show it faster: on a shared machine one of them can flatter.
    const speedup = Math.min(srcLatency!.medianMs / lat.get(p.name)!.medianMs, srcLatency!.cpuMedianMs / lat.get(p.name)!.cpuMedianMs);
    if (speedup < minSpeedup) {
      const l = lat.get(p.name)!;
      throw new AgentError('MODEL_INVALID', `the ${p.precision} variant of ${m.name} is ${speedup.toFixed(2)}x the speed of ${src.name} on this CPU (${l.medianMs.toFixed(2)} vs ${srcLatency!.medianMs.toFixed(2)} ms median, ${l.cpuMedianMs.toFixed(2)} vs ${srcLatency!.cpuMedianMs.toFixed(2)} ms CPU, 1 thread; the lower ratio counts), under the ${minSpeedup}x required${chosen && p.precision === 'int8' ? ` (${chosen.label}, agreement ${pct(chosen.agreement.value)} %)` : ''}${kernels ? `; ${kernels.summary}` : ''}; nothing written`, {
        fix: p.precision === 'int8' ? `keep the fp32 variant on this CPU (${cpu.instructions})${kernels?.mostlyFloat ? '; the QDQ placement did not fuse into int8 kernels for this graph' : ''}; docs/optimize.md explains why int8 can be slower` : 'fp16 is for GPU boards: use --precision int8 on a CPU',
      });
    }
  }

  // Accuracy: mAP on a labelled scene when given, agreement with fp32 on the held-out frames always.
  let evalSet: { frames: ModelFrame[]; truth: ReturnType<typeof loadSceneTruth>['frames'] } | undefined;
  if (o.evalDirs?.length) {
    evalSet = { frames: [], truth: [] };
    for (const dir of o.evalDirs) {
      const t = loadSceneTruth(dir, m.labels);
      const frames = await framesFromSource(t.video, o.evalFrames ?? 150, input, { progress: (d, n) => progress(d, n, `reading and scaling evaluation frames (${basename(dir)})`) });
      evalSet.frames.push(...frames);
      evalSet.truth.push(...frames.map((f) => t.frames[f.index ?? 0] ?? []));
    }
  }
  const evalFrames = evalSet?.frames ?? heldOut;
  const heldDataset = `${heldOut.length} ${canHold ? 'held-out' : 'calibration (too few to hold out)'} frames from ${where}`;
  const dataset = evalSet ? `${o.evalDirs!.map((d) => basename(resolve(d))).join(', ')}: ${evalSet.frames.length} frames with ground truth` : `${heldDataset}, agreement with ${src.name}`;
  let ref = heldRef;
  if (evalSet) {
    const refRunner2 = await createRunner(bytes);
    ref = await detectAll(refRunner2, evalFrames, m, input, prep.inputName, (d, t) => progress(d, t, `evaluate ${src.name}`));
    await refRunner2.release();
  }
  const source: VariantReport = { name: src.name, precision: 'fp32', latencyMs: srcLatency!.medianMs, minMs: srcLatency!.minMs, cpuMs: srcLatency!.cpuMedianMs, bytes: bytes.length };
  if (evalSet) source.accuracy = { ...meanAP(ref, evalSet.truth, m.labels), dataset };
  const variants: VariantReport[] = [];
  const added: VariantSpec[] = [];
  const flops = countFlops(prep.model).total;
  const deviceKey = o.deviceKey ?? `${process.arch === 'x64' ? 'x86_64' : process.arch}-cpu`;
  for (const p of produced) {
    const r = await createRunner(p.bytes);
    const dets = await detectAll(r, evalFrames, m, input, prep.inputName, (d, t) => progress(d, t, `evaluate ${p.name}`));
    const held = evalSet ? await detectAll(r, heldOut, m, input, prep.inputName, (d, t) => progress(d, t, `agreement ${p.name}`)) : dets;
    await r.release();
    const agree = agreement(ref, dets, evalFrames);
    const heldAgree = compareDetections(heldRef, held);
    if (heldAgree.value < minAgreement) {
      throw new AgentError('MODEL_INVALID', `the ${p.precision} variant of ${m.name} agrees ${pct(heldAgree.value)} % with ${src.name} on ${heldDataset}: below ${pct(minAgreement)} %; nothing written`, { fix: 'calibrate on more frames of the scene, or keep the fp32 variant' });
    }
    const map = evalSet ? meanAP(dets, evalSet.truth, m.labels) : undefined;
    const sha256 = createHash('sha256').update(p.bytes).digest('hex');
    const l = lat.get(p.name)!;
    const rep: VariantReport = { name: p.name, precision: p.precision, file: `${p.name}.onnx`, latencyMs: l.medianMs, minMs: l.minMs, cpuMs: l.cpuMedianMs, sha256, flops, accuracy: { ...map, agreement: agree, dataset }, agreement: heldAgree, bytes: p.bytes.length, floatLayers: p.floatLayers };
    variants.push(rep);
    const agreementSpec = { reference: src.name, value: round4(heldAgree.value), recall: round4(heldAgree.recall), precision: round4(heldAgree.precision), frames: heldOut.length, detections: heldAgree.reference, meanScoreShift: round4(heldAgree.meanScoreShift), dataset: heldDataset };
    added.push({
      name: p.name,
      file: `${p.name}.onnx`,
      runtime: 'onnxruntime',
      ...(src.input ? { input: src.input } : {}),
      accelerator: p.precision === 'fp16' ? 'cuda' : 'cpu',
      precision: p.precision,
      sha256,
      flops,
      latencyMs: { [deviceKey]: Number(rep.latencyMs.toFixed(2)) },
      accuracy: { ...(map ? { mAP50: clamp01(map.mAP50), perClass: map.perClass } : {}), agreement: agreementSpec, dataset },
      ...(await knownAnswerFor(m, src, outDir, p.bytes, prep.inputName, p.precision)),
      reference: src.name,
      provenance:
        `${o.command} (${p.precision === 'int8' ? `static int8 QDQ, ${chosen!.label}, placement ${placement}, ${chosen!.method} calibration on ${calib.length} frames, weights per-channel symmetric, activations uint8 (${cpu.instructions}); ` +
          `agreement with ${src.name}: ${pct(heldAgree.value)} % on ${heldDataset}` + (p.floatLayers.length ? `; left float: ${p.floatLayers.join(', ')}` : '') : `float16 weights and compute, float32 inputs/outputs; agreement with ${src.name}: ${pct(heldAgree.value)} %`})`,
    });
  }
  const latencies: Record<string, number> = { [src.name]: Number(srcLatency!.medianMs.toFixed(2)), ...Object.fromEntries(otherLatency.map((x) => [x.name, Number(x.latencyMs.toFixed(2))])) };
  const manifestName = basename(m.path).replace(/\.ya?ml$/i, '.json');
  const doc = mergedManifest(m, outDir, added, { deviceKey, latencies });
  writeAtomically(outDir, manifestName, doc, [...carriedFiles(m, outDir), ...produced.map((p) => ({ name: `${p.name}.onnx`, bytes: p.bytes }))]);
  log.info({ manifest: resolve(outDir, manifestName), variants: produced.map((p) => p.name) }, 'optimized variants written');
  const cacheFile = o.benchCache ? recordInBenchCache(o.benchCache, added, createHash('sha256').update(bytes).digest('hex'), log) : undefined;
  return {
    model: m.name,
    source,
    preparedFp32: { latencyMs: preparedLatency!.medianMs, minMs: preparedLatency!.minMs, cpuMs: preparedLatency!.cpuMedianMs },
    variants,
    layers,
    excluded: layers.filter((l) => !l.quantised).map((l) => l.layer),
    splitPools: prep.splitPools,
    calibration: { frames: calib.length, heldOut: heldOut.length, method: chosen?.method ?? o.method ?? 'minmax', weightBits, symmetric: chosen?.symmetric ?? false, placement },
    cpu,
    ...(kernels ? { kernels } : {}),
    trials: trials.map((t) => ({ label: t.label, agreement: round4(t.agreement.value), floatLayers: t.floatLayers.length })),
    minAgreement,
    others: otherLatency,
    manifest: resolve(outDir, manifestName),
    ...(cacheFile ? { benchCache: cacheFile } : {}),
    edgeTpu: edgeTpuAdvice(m.name),
  };
}

/**
 * The agreement of each written variant, measured here, into the bench cache (agent/select/bench-cache.ts), keyed as
 * `bench --frames` keys it. The manifest already holds the figure, so a cache that cannot be written is a warning.
 */
function recordInBenchCache(c: { stateDir: string; fingerprint: string }, added: VariantSpec[], referenceSha256: string, log: Logger): string | undefined {
  const file = benchCachePath(c.stateDir);
  try {
    for (const v of added) {
      const a = v.accuracy?.agreement;
      if (a && v.sha256) recordAgreement(file, c.fingerprint, v.sha256, { ...a, variant: v.name, referenceSha256, measuredAt: new Date().toISOString() });
    }
    return file;
  } catch (err) {
    log.warn({ err, file }, 'agreement not cached for selection (it is in the manifest); doctor will show it as from the manifest');
    return undefined;
  }
}

/** Profiles a candidate (3 runs) and summarises its kernels against the layers it quantises; undefined if ORT cannot profile. */
async function kernelCheck(model: Uint8Array, quantised: QuantTarget[], feed: Record<string, { data: Float32Array; dims: number[] }>, log: Logger): Promise<KernelReport | undefined> {
  const planned = new Map<string, number>();
  for (const t of quantised) planned.set(t.opType, (planned.get(t.opType) ?? 0) + 1);
  try {
    const k = summariseKernels(await profileKernels(model, feed, { runs: 3 }), planned);
    log.info({ kernels: k.summary }, 'kernel check');
    return k;
  } catch (err) {
    log.warn({ err }, 'kernel check skipped: ONNX Runtime could not profile the int8 model');
    return undefined;
  }
}

/** A grouped convolution with one input channel per group. */
function isDepthwise(prep: PreparedModel, t: QuantTarget): boolean {
  if (t.opType !== 'Conv') return false;
  const n = prep.model.graph.node.find((x) => x.name === t.name);
  const group = n?.attribute.find((a) => a.name === 'group');
  const w = prep.model.graph.initializer.find((x) => x.name === t.weight);
  return Number(group?.i ?? 1) > 1 && Number(w?.dims[1] ?? 0) === 1;
}

const round4 = (x: number): number => Math.round(x * 10000) / 10000;
const pct = (x: number): string => `${Math.floor(x * 1000) / 10}`;

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
    // With --out the source's input is carried into the output folder (carriedFiles) under its base name.
    return { knownAnswer: { input: resolve(outDir) === m.dir ? relative(outDir, inputFile) : basename(inputFile), expect, tolerance } };
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
