// Finishes the conveyor-demo model folder with the real runtime, onnxruntime-node (CPU, 1 thread):
// checks each exported ONNX file against torch's output on the known-answer frame (max |diff| <= 1e-4),
// records known answers, measures latency (median of 200 runs after warm-up), and writes manifest.json
// with sha256, FLOPs and the accuracy measured on the evaluation seeds.
//
//   node scripts/train/finish-model.mjs --model-dir models/conveyor-demo --ref REF.json --eval EVAL.json \
//        --val VAL.json [--runs 200]
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';

const { values: a } = parseArgs({
  options: {
    'model-dir': { type: 'string' },
    ref: { type: 'string' },
    eval: { type: 'string' },
    val: { type: 'string' },
    runs: { type: 'string', default: '200' },
    // variant name = key of the model in the ref/eval files, e.g. student-fp32=student
    variant: { type: 'string', multiple: true },
  },
});
for (const k of ['model-dir', 'ref', 'eval', 'val']) {
  if (!a[k]) {
    process.stderr.write(`finish-model: missing --${k}\n`);
    process.exit(64);
  }
}
const dir = a['model-dir'];
const ref = JSON.parse(readFileSync(a.ref, 'utf8'));
const evals = JSON.parse(readFileSync(a.eval, 'utf8'));
const vals = JSON.parse(readFileSync(a.val, 'utf8'));
const runs = Number(a.runs);
const kaFile = 'ka_input.f32';
const kaBytes = readFileSync(join(dir, kaFile));
const ka = new Float32Array(kaBytes.buffer, kaBytes.byteOffset, kaBytes.length / 4);
const N = 1200;

// Widths as trained (evaluate.py records each model's).
const width = (model) => {
  const w = evals[model]?.width ?? ref.models[model]?.trainArgs?.width;
  return w === undefined ? '?' : Number(w).toFixed(2);
};
const WHAT = {
  student: `student (width ${width('student')}) distilled from the teacher`,
  'student-alone': `student (width ${width('student-alone')}) trained without a teacher`,
  teacher: `teacher (width ${width('teacher')})`,
};
// Variant name -> model name in the ref/eval files.
const VARIANTS = (a.variant ?? ['student-fp32=student', 'teacher-fp32=teacher']).map((spec) => {
  const [name, model] = spec.split('=');
  const args = ref.models[model]?.trainArgs ?? {};
  const what = args.teacher
    ? `student (width ${args.width}) distilled from the teacher (alpha ${args.alpha}, T ${args.temperature})`
    : WHAT[model] ?? model;
  return { name, model, what };
});
// The operating threshold: the one chosen on validation for the first (default) variant.
const threshold = vals[VARIANTS[0].model].threshold;
const variants = [];
for (const v of VARIANTS) {
  const r = ref.models[v.model];
  const file = join(dir, r.file);
  const bytes = readFileSync(file);
  const session = await ort.InferenceSession.create(file, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const feeds = { images: new ort.Tensor('float32', ka, [1, 3, 240, 320]) };
  const out = (await session.run(feeds)).output0;
  if (out.dims.join(',') !== '1,6,1200') throw new Error(`${file}: output0 dims ${out.dims}`);
  const y = out.data;
  let maxDiff = 0;
  for (let i = 0; i < y.length; i++) maxDiff = Math.max(maxDiff, Math.abs(y[i] - r.output0[i]));
  if (!(maxDiff <= 1e-4)) throw new Error(`${file}: onnxruntime differs from torch by ${maxDiff}`);

  // Known answers: the 6 rows of the cell with the highest defect score, and the class scores of a
  // background cell (top-left corner, on the machine frame).
  let best = 0;
  for (let i = 1; i < N; i++) if (y[5 * N + i] > y[5 * N + best]) best = i;
  const idx = [0, 1, 2, 3, 4, 5].map((row) => row * N + best).concat([4 * N, 5 * N]);
  const expect = idx.map((i) => [i, Number(y[i].toFixed(6))]);

  for (let i = 0; i < 20; i++) await session.run(feeds);
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((p, q) => p - q);
  const median = times[times.length >> 1];
  await session.release();

  const e = evals[v.model];
  variants.push({
    name: v.name,
    file: r.file,
    runtime: 'onnxruntime',
    accelerator: 'cpu',
    precision: 'fp32',
    sha256: createHash('sha256').update(bytes).digest('hex'),
    flops: 2 * r.macs,
    accuracy: {
      mAP50: e.mAP50,
      perClass: e.perClass,
      precision: e.precision,
      recall: e.recall,
      threshold: e.threshold,
      dataset: `demo seeds ${e.seeds}, ${e.frames} frames, ${e.instances.part} good and ${e.instances.defect} defective part views (frame level, IoU 0.5)`,
    },
    latencyMs: { 'x86_64-cpu': Number(median.toFixed(3)) },
    knownAnswer: { input: kaFile, expect: { output0: expect }, tolerance: 1e-3 },
    provenance: `${v.what}, ${r.params} parameters; trained by scripts/train/reproduce.sh (train.py ${Object.entries(r.trainArgs)
      .filter(([k]) => ['width', 'steps', 'batch', 'seed', 'seeds', 'alpha', 'temperature'].includes(k) && r.trainArgs[k] !== null)
      .map(([k, val]) => `--${k} ${val}`)
      .join(' ')}${r.trainArgs.teacher ? ' --teacher teacher.pt' : ''}); exported by export.py; latency: onnxruntime-node ${ort.env.versions?.common ?? ''} 1 thread, median of ${runs}`,
  });
  process.stdout.write(`${v.name}: max |ort - torch| = ${maxDiff.toExponential(2)}, median ${median.toFixed(2)} ms, ${(bytes.length / 1024).toFixed(0)} KiB\n`);
}

const manifest = {
  schema: 1,
  name: 'conveyor-demo',
  description:
    'Finds parts on the demo conveyor and tells good ("part") from defective ("defect": crack, missing hole, stain, chipped edge). Anchor-free, one stride-8 head, boxes decoded in the graph.',
  labels: ['part', 'defect'],
  input: {
    name: 'images',
    shape: [1, 3, 240, 320],
    layout: 'NCHW',
    dtype: 'float32',
    color: 'RGB',
    resize: 'stretch',
    normalise: { mean: [0, 0, 0], std: [255, 255, 255] },
  },
  decoder: {
    type: 'yolov8',
    params: { output: 'output0' },
    scoreThreshold: threshold,
    nms: { iou: 0.45, classAgnostic: true, method: 'hard', maxDetections: 20 },
  },
  variants,
  license: 'Apache-2.0',
  source: 'trained by this project: scripts/train/reproduce.sh (see README.md here)',
};
const target = join(dir, 'manifest.json');
writeFileSync(`${target}.tmp`, `${JSON.stringify(manifest, null, 2)}\n`);
renameSync(`${target}.tmp`, target);
process.stdout.write(`wrote ${target}\n`);

// EVAL.md: the three models side by side (the student alone has the student's graph, so its size, FLOPs and
// latency are the student's).
const lat = Object.fromEntries(variants.map((v) => [v.name, v.latencyMs['x86_64-cpu']]));
const studentVariant = VARIANTS.find((v) => v.model.startsWith('student'));
const rows = [
  [`teacher (width ${width('teacher')})`, 'teacher', 'teacher', 'teacher-fp32'],
  [`student alone (width ${width('student-alone')})`, 'student-alone', studentVariant?.model, 'student-fp32'],
  ['student distilled from teacher', 'student', 'student', 'student-fp32'],
].filter(([, key, refKey]) => key in evals && refKey in ref.models);
const pct = (x) => (100 * x).toFixed(1);
const lines = [];
lines.push('# conveyor-demo: measured accuracy and speed', '');
lines.push(
  `Evaluation seeds ${evals[VARIANTS[0].model].seeds} (never used in training: train 1-16 and 2001-2600, validation 501-504), every frame, ` +
    `${evals[VARIANTS[0].model].frames} frames; ${evals[VARIANTS[0].model].instances.part} good-part and ${evals[VARIANTS[0].model].instances.defect} defective-part views ` +
    'in which the part is fully visible. A detection counts if IoU >= 0.5 with the same label; detections on parts that are only partly ' +
    'in the picture are ignored. Decoding as the agent does it: label = best class, class-agnostic hard NMS (IoU 0.45). ' +
    `Thresholds were chosen on the validation seeds (best defect F1), each model its own; the manifest uses ${VARIANTS[0].name}'s.`,
  '',
);
{
  const shipped = evals[VARIANTS[0].model];
  const met = shipped.precision >= 0.95 && shipped.recall >= 0.95;
  lines.push(
    `**Target (defect precision and recall >= 95 % on unseen seeds): ${met ? 'met' : 'NOT met'}** by the shipped ${VARIANTS[0].name} ` +
      `(${pct(shipped.precision)} % / ${pct(shipped.recall)} %).`,
    '',
  );
}
lines.push('| model | params | FLOPs (2xMAC) | ONNX | mAP@0.5 | AP part | AP defect | threshold | defect precision | defect recall | P / R at manifest threshold | latency x86_64 1 thread |');
lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const [label, key, refKey, vname] of rows) {
  const e = evals[key];
  const r = ref.models[refKey];
  const size = readFileSync(join(dir, r.file)).length;
  const at = e.atOperatingThreshold;
  const op = at ? `${pct(at.precision)} / ${pct(at.recall)} @ ${at.threshold}` : '';
  lines.push(
    `| ${label} | ${(r.params / 1000).toFixed(0)} k | ${(2 * r.macs / 1e6).toFixed(0)} M | ${(size / 1024).toFixed(0)} KiB | ${pct(e.mAP50)} | ${pct(e.perClass.part)} | ${pct(e.perClass.defect)} | ${e.threshold} | ${pct(e.precision)} | ${pct(e.recall)} | ${op} | ${lat[vname].toFixed(2)} ms |`,
  );
}
lines.push('', 'Per physical part at each model\'s threshold (what an N-of-M rule sees):', '');
lines.push('| model | defective parts flagged in >= half of their frames | good parts flagged as defect in any frame | mean share of a defective part\'s frames flagged |');
lines.push('|---|---|---|---|');
for (const [label, key] of rows) {
  const p = evals[key].partLevel;
  lines.push(`| ${label} | ${p.defectiveFlaggedInHalfTheirFrames} / ${p.defectiveParts} | ${p.goodFlaggedInAnyFrame} / ${p.goodParts} | ${pct(p.meanDefectFrameShare)} % |`);
}
{
  // Which defects each model finds, per physical part (flagged in at least half of its frames).
  const kinds = [...new Set(rows.flatMap(([, key]) => Object.keys(evals[key].partLevel.byKind ?? {})))].filter((k) => k !== 'good').sort();
  if (kinds.length) {
    lines.push('', 'Defective parts flagged in at least half of their frames, per defect kind:', '');
    lines.push(`| model | ${kinds.join(' | ')} |`, `|---|${kinds.map(() => '---|').join('')}`);
    for (const [label, key] of rows) {
      const bk = evals[key].partLevel.byKind ?? {};
      lines.push(`| ${label} | ${kinds.map((k) => (bk[k] ? `${bk[k].flaggedInHalf} / ${bk[k].parts}` : '-')).join(' | ')} |`);
    }
  }
}
lines.push('', 'Validation (threshold choice, seeds 501-504):', '');
lines.push('| model | threshold | defect precision | defect recall | mAP@0.5 |', '|---|---|---|---|---|');
for (const [label, key] of rows) {
  const v = vals[key];
  lines.push(`| ${label} | ${v.threshold} | ${pct(v.precision)} | ${pct(v.recall)} | ${pct(v.mAP50)} |`);
}
const trainS = (k) => (k in ref.models ? ref.models[k].trainSeconds : undefined);
lines.push(
  '',
  `Training wall time on this (shared, 2-core) machine: ${Object.keys(ref.models).map((k) => `${k} ${trainS(k)} s`).join(', ')}.`,
  `Latency: onnxruntime-node, CPU, 1 intra-op thread, median of ${runs} runs after 20 warm-up runs, on the known-answer frame; the machine was shared with other jobs, so these are upper bounds.`,
  '',
  'Reproduce: `scripts/train/reproduce.sh` (see scripts/train/README.md).',
  '',
);
writeFileSync(join(dir, 'EVAL.md.tmp'), lines.join('\n'));
renameSync(join(dir, 'EVAL.md.tmp'), join(dir, 'EVAL.md'));
process.stdout.write(`wrote ${join(dir, 'EVAL.md')}\n`);
