// Finishes models/field-demo with the real runtime, onnxruntime-node (CPU, 1 thread): checks each exported ONNX
// file against torch's output on the known-answer frame (max |diff| <= 1e-4), records known answers (a few cells),
// measures latency (median of --runs after warm-up) and writes manifest.json with sha256 and the accuracy
// measured on the evaluation seeds (zone-level "needs water" precision/recall).
//
//   node scripts/train/field/finish.mjs --dir models/field-demo --eval-student E.json --eval-teacher E.json
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';

const { values: a } = parseArgs({
  options: {
    dir: { type: 'string' },
    'eval-student': { type: 'string' },
    'eval-teacher': { type: 'string' },
    runs: { type: 'string', default: '200' },
  },
});
for (const k of ['dir', 'eval-student', 'eval-teacher']) {
  if (!a[k]) {
    process.stderr.write(`finish: missing --${k}\n`);
    process.exit(64);
  }
}
const dir = a.dir;
const kaBytes = readFileSync(join(dir, 'ka_input.f32'));
const ka = new Float32Array(kaBytes.buffer, kaBytes.byteOffset, kaBytes.length / 4);
const N = 300;
const KA_CELLS = [4 * N + 42, 5 * N + 42, 6 * N + 42, 6 * N + 57, 6 * N + 222, 4 * N + 222, 0, 3 * N + 299];

async function variant(name, file, evalFile, what) {
  const path = join(dir, file);
  const bytes = readFileSync(path);
  const ref = JSON.parse(readFileSync(join(dir, file.replace(/\.onnx$/, '.ref.json')), 'utf8'));
  const ev = JSON.parse(readFileSync(evalFile, 'utf8'));
  const session = await ort.InferenceSession.create(path, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
  const feeds = { images: new ort.Tensor('float32', ka, [1, 3, 120, 160]) };
  const out = (await session.run(feeds)).output0;
  if (out.dims.join(',') !== `1,7,${N}`) throw new Error(`${file}: output0 dims ${out.dims}`);
  let maxDiff = 0;
  for (let i = 0; i < out.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(out.data[i] - ref.reference[i]));
  if (!(maxDiff <= 1e-4)) throw new Error(`${file}: onnxruntime differs from torch by ${maxDiff}`);
  for (let i = 0; i < 20; i++) await session.run(feeds);
  const times = [];
  for (let i = 0; i < Number(a.runs); i++) {
    const t0 = performance.now();
    await session.run(feeds);
    times.push(performance.now() - t0);
  }
  times.sort((x, y) => x - y);
  const median = Math.round(times[Math.floor(times.length / 2)] * 1000) / 1000;
  await session.release();
  const nw = ev.needsWater;
  process.stdout.write(`${name}: torch vs ORT max diff ${maxDiff.toExponential(2)}, median ${median} ms, P ${nw.precision} R ${nw.recall}\n`);
  return {
    name,
    file,
    runtime: 'onnxruntime',
    accelerator: 'cpu',
    precision: 'fp32',
    sha256: createHash('sha256').update(bytes).digest('hex'),
    accuracy: {
      mAP50: ev.mAP,
      perClass: ev.cellAP,
      precision: nw.precision,
      recall: nw.recall,
      threshold: ev.threshold,
      dataset: `field seeds ${ev.seeds}: ${ev.zoneFrames} zone-frames; mAP = mean per-cell AP of the three labels; precision/recall = zone-level "needs water" (best dry_soil score in the zone >= threshold vs the truth's drySoil)`,
    },
    latencyMs: { 'x86_64-cpu': median },
    knownAnswer: { input: 'ka_input.f32', expect: { output0: KA_CELLS.map((i) => [i, Math.round(out.data[i] * 1e6) / 1e6]) }, tolerance: 0.001 },
    provenance: `${what} (width ${ref.width}), ${ref.params} parameters; trained by scripts/train/field/reproduce.sh (train.py ${Object.entries(ref.args).filter(([, v]) => v !== null && v !== undefined).map(([k, v]) => `--${k} ${v}`).join(' ')}); exported by export.py; latency: onnxruntime-node 1 thread, median of ${a.runs} (shared 2-core machine)`,
  };
}

const student = await variant('student-fp32', 'student.onnx', a['eval-student'], 'student distilled from the teacher');
const teacher = await variant('teacher-fp32', 'teacher.onnx', a['eval-teacher'], 'teacher');
const manifest = {
  schema: 1,
  name: 'field-demo',
  description: 'Per 8x8 cell of a 160x120 field picture: healthy plants, wilted plants, dry soil. One fixed 16x16 box per cell in the YOLOv8 layout, so the agent\'s yolov8 decoder reads it; the irrigation controller takes the best score per zone.',
  labels: ['healthy', 'wilted', 'dry_soil'],
  input: { name: 'images', shape: [1, 3, 120, 160], layout: 'NCHW', dtype: 'float32', color: 'RGB', resize: 'stretch', normalise: { mean: [0, 0, 0], std: [255, 255, 255] } },
  decoder: { type: 'yolov8', params: { output: 'output0' }, scoreThreshold: 0.3, nms: { iou: 0.45, classAgnostic: false, method: 'none', maxDetections: 300 } },
  variants: [student, teacher],
  license: 'Apache-2.0',
  source: 'trained by this project: scripts/train/field/reproduce.sh (see README.md here)',
};
const file = join(dir, 'manifest.json');
writeFileSync(`${file}.tmp`, `${JSON.stringify(manifest, null, 2)}\n`);
renameSync(`${file}.tmp`, file);
process.stdout.write(`wrote ${file}\n`);
