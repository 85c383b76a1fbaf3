// Zone-level "needs water" precision/recall of the ONNX variants of models/field-demo as the agent runs them
// (onnxruntime-node, 1 thread), on the evaluation seeds' frames as decoded for training (frames.u8, 160x120 rgb24):
// the same measure as evaluate.py (best dry_soil cell score in the zone >= threshold vs the truth's drySoil),
// so fp32 and int8 are compared on equal terms.
//   node scripts/train/field/evaluate-onnx.mjs --data DATA --seeds 1000-1011 --threshold 0.985 [--variant student-int8]...
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';

const { values: a } = parseArgs({ options: { data: { type: 'string' }, seeds: { type: 'string' }, threshold: { type: 'string' }, variant: { type: 'string', multiple: true }, dir: { type: 'string', default: 'models/field-demo' } } });
const [lo, hi] = a.seeds.split('-').map(Number);
const thr = Number(a.threshold);
const manifest = JSON.parse(readFileSync(join(a.dir, 'manifest.json'), 'utf8'));
const W = 160;
const H = 120;
const N = 300;
for (const name of a.variant ?? manifest.variants.map((v) => v.name)) {
  const v = manifest.variants.find((x) => x.name === name);
  const s = await ort.InferenceSession.create(join(a.dir, v.file), { intraOpNumThreads: 1, interOpNumThreads: 1 });
  let tp = 0;
  let fp = 0;
  let fn = 0;
  const x = new Float32Array(3 * W * H);
  for (let seed = lo; seed <= hi; seed++) {
    const d = join(a.data, `seed-${seed}`);
    const truth = JSON.parse(readFileSync(join(d, 'truth.json'), 'utf8'));
    const frames = readFileSync(join(d, 'frames.u8'));
    // Cells of each zone by their centre, as common.py's cell_zones.
    const cellZone = new Int32Array(N).fill(-1);
    for (let c = 0; c < N; c++) {
      const cx = ((c % 20) + 0.5) / 20;
      const cy = (Math.floor(c / 20) + 0.5) / 15;
      for (const z of truth.zones) if (cx >= z.box[0] && cx < z.box[2] && cy >= z.box[1] && cy < z.box[3]) cellZone[c] = z.id;
    }
    for (let t = 0; t < truth.frames; t++) {
      const px = frames.subarray(t * W * H * 3, (t + 1) * W * H * 3);
      for (let i = 0; i < W * H; i++) for (let ch = 0; ch < 3; ch++) x[ch * W * H + i] = px[i * 3 + ch] / 255;
      const out = (await s.run({ images: new ort.Tensor('float32', x, [1, 3, H, W]) })).output0.data;
      const best = truth.zones.map(() => 0);
      for (let c = 0; c < N; c++) if (cellZone[c] >= 0) best[cellZone[c]] = Math.max(best[cellZone[c]], out[6 * N + c]);
      for (const z of truth.zones) {
        const pred = best[z.id] >= thr;
        const gt = z.drySoil[t] === 1;
        if (pred && gt) tp++;
        else if (pred) fp++;
        else if (gt) fn++;
      }
    }
  }
  const p = tp / (tp + fp);
  const r = tp / (tp + fn);
  process.stdout.write(`${name}: precision ${p.toFixed(4)} recall ${r.toFixed(4)} (tp ${tp} fp ${fp} fn ${fn}) at ${thr}, seeds ${a.seeds}\n`);
  await s.release();
}
