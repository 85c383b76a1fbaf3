/**
 * Model benchmark: for every shared third-party model (test/fixtures/models manifests pointing at
 * ../shared/models) and each of its variants that runs here, the latency of
 *   - backend: the bare runtime call (ONNX Runtime / TFLite invoke with a ready input tensor), and
 *   - agent:   preprocess (pack a pre-decoded RGB frame into the tensor, as the pipeline does) + the same
 *              runtime call + decode/NMS,
 * median and p99 over interleaved runs (one of each per iteration, so machine load hits both alike), and the
 * agent's overhead over the bare call. Target: overhead < 10% for every model.
 *
 *   node dist/scripts/bench/models.js [--iterations N] [--threads N] [--json]
 */
import { existsSync, readdirSync } from 'node:fs';
import { loadavg, cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadManifest } from '../../agent/model/manifest.js';
import type { InferenceBackend, InputData } from '../../agent/types.js';
import { ImageDetector, variantUsable } from '../../agent/app/image-detector.js';
import { probeImage, readImageForModel } from '../../drivers/image/read.js';
import { StatefulBackend } from '../../drivers/inference/tflite/stateful.js';
import { packageRoot } from '../../agent/paths.js';

export interface ModelBenchOptions {
  /** Timed iterations per variant (default: about 3 s worth, 10..300). */
  iterations?: number;
  warmup?: number;
  threads?: number;
  /** Folder of manifests (default test/fixtures/models in the package). */
  manifestsDir?: string;
  /** Only these manifest folder names. */
  only?: string[];
  log?: (line: string) => void;
}

export interface ModelBenchRow {
  model: string;
  variant: string;
  runtime: string;
  accelerator: string;
  image: string;
  iterations: number;
  backendP50: number;
  backendP99: number;
  agentP50: number;
  agentP99: number;
  preprocessP50: number;
  decodeP50: number;
  detections: number;
  /** (agentP50 - backendP50) / backendP50, percent. */
  overheadPct: number;
}

export interface ModelBenchResult {
  rows: ModelBenchRow[];
  skipped: Array<{ model: string; variant: string; reason: string }>;
  loadAvg1m: number;
  cpus: number;
  targetOverheadPct: number;
  pass: boolean;
}

const TARGET_PCT = 10;

/** The picture each model is measured on (one it detects something in). */
const sampleImage: Record<string, string> = {
  ultraface: 'face.jpg',
  'blazeface-short': 'grace_hopper.bmp',
  'blazeface-full': 'grace_hopper.bmp',
  'palm-lite': 'ultraface_2.jpg',
  'nanodet-m': 'yolox_dog.jpg',
  'coral-traffic-lstm': 'coral_traffic_0001.bmp',
};

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** The bare runtime call's inputs: the image tensor, plus zero state for recurrent models. */
function bareInputs(backend: InferenceBackend, name: string, tensor: InputData): { backend: InferenceBackend; inputs: Record<string, InputData> } {
  const bare = backend instanceof StatefulBackend ? backend.innerBackend : backend;
  const inputs: Record<string, InputData> = { [name]: tensor };
  for (const t of bare.inputs()) {
    if (t.name === name) continue;
    const n = t.shape.reduce((a, b) => a * Math.max(1, b), 1);
    inputs[t.name] = t.dtype === 'uint8' ? new Uint8Array(n) : t.dtype === 'int8' ? new Int8Array(n) : new Float32Array(n);
  }
  return { backend: bare, inputs };
}

export async function benchModels(o: ModelBenchOptions = {}): Promise<ModelBenchResult> {
  const root = packageRoot();
  const dir = o.manifestsDir ?? join(root, 'test', 'fixtures', 'models');
  const images = resolve(root, '..', 'shared', 'models', 'test-images');
  const log = o.log ?? (() => undefined);
  const rows: ModelBenchRow[] = [];
  const skipped: ModelBenchResult['skipped'] = [];
  if (!existsSync(images)) {
    return { rows, skipped: [{ model: '*', variant: '*', reason: `${images} absent (../shared/models)` }], loadAvg1m: loadavg()[0]!, cpus: cpus().length, targetOverheadPct: TARGET_PCT, pass: false };
  }
  const names = readdirSync(dir).filter((n) => existsSync(join(dir, n, 'manifest.json')) && sampleImage[n] && (!o.only || o.only.includes(n)));
  for (const name of names) {
    // The fixture manifests name the third-party files in ../shared/models: allowed explicitly.
    const m = loadManifest(join(dir, name), { allowedRoots: [resolve(root, '..', 'shared', 'models')] });
    for (const v of m.variants) {
      const why = await variantUsable(v);
      if (why) {
        skipped.push({ model: m.name, variant: v.name, reason: why });
        continue;
      }
      log(`${m.name}/${v.name}: measuring`);
      const det = await ImageDetector.open({ manifest: m, variant: v.name, threads: o.threads ?? 1 });
      try {
        const imgFile = join(images, sampleImage[name]!);
        const { width, height } = det.inputSize();
        const inp = det.opened.input;
        const frame = await readImageForModel(imgFile, await probeImage(imgFile), { width, height, resize: inp.resize, align: inp.letterboxAlign, color: inp.color, padValue: inp.padValue, resizeFilter: inp.resizeFilter });
        // A tensor packed once for the bare calls (the packer reuses its buffer, so keep a copy).
        const first = await det.detectFrame(frame.data, frame.geometry);
        const packed = det.packOnly(frame.data).slice();
        const bare = bareInputs(det.backend, inp.name, packed);
        const warmup = o.warmup ?? 5;
        for (let i = 0; i < warmup; i++) {
          await bare.backend.run(bare.inputs);
          await det.detectFrame(frame.data, frame.geometry);
        }
        const t0 = performance.now();
        await bare.backend.run(bare.inputs);
        // About 3 s of runs per variant (10..300): fast models need many samples for a stable median.
        const iterations = o.iterations ?? Math.max(10, Math.min(300, Math.round(3000 / Math.max(1, performance.now() - t0))));
        const b: number[] = [];
        const a: number[] = [];
        const pre: number[] = [];
        const dec: number[] = [];
        for (let i = 0; i < iterations; i++) {
          const s = performance.now();
          await bare.backend.run(bare.inputs);
          b.push(performance.now() - s);
          const r = await det.detectFrame(frame.data, frame.geometry);
          a.push(r.timingsMs.totalMs);
          pre.push(r.timingsMs.preprocessMs);
          dec.push(r.timingsMs.decodeMs);
        }
        const row: ModelBenchRow = {
          model: m.name,
          variant: v.name,
          runtime: v.runtime,
          accelerator: det.accelerator(),
          image: sampleImage[name]!,
          iterations,
          backendP50: percentile(b, 50),
          backendP99: percentile(b, 99),
          agentP50: percentile(a, 50),
          agentP99: percentile(a, 99),
          preprocessP50: percentile(pre, 50),
          decodeP50: percentile(dec, 50),
          detections: first.detections.length,
          overheadPct: 0,
        };
        row.overheadPct = ((row.agentP50 - row.backendP50) / row.backendP50) * 100;
        rows.push(row);
      } finally {
        await det.close();
      }
    }
  }
  return { rows, skipped, loadAvg1m: loadavg()[0]!, cpus: cpus().length, targetOverheadPct: TARGET_PCT, pass: rows.length > 0 && rows.every((r) => r.overheadPct < TARGET_PCT) };
}

export function formatModelBench(r: ModelBenchResult): string {
  const f = (n: number): string => n.toFixed(2);
  const head = ['model/variant', 'runtime', 'acc', 'n', 'backend p50', 'p99', 'agent p50', 'p99', 'pre p50', 'decode p50', 'dets', 'overhead'];
  const body = r.rows.map((x) => [`${x.model}/${x.variant}`, x.runtime, x.accelerator, String(x.iterations), f(x.backendP50), f(x.backendP99), f(x.agentP50), f(x.agentP99), f(x.preprocessP50), f(x.decodeP50), String(x.detections), `${x.overheadPct.toFixed(1)}%`]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out = [
    `Model latency, ms (agent = preprocess from a decoded RGB frame + runtime call + decode/NMS); load ${r.loadAvg1m.toFixed(2)} on ${r.cpus} CPUs`,
    line(head),
    ...body.map(line),
  ];
  for (const s of r.skipped) out.push(`skipped ${s.model}/${s.variant}: ${s.reason}`);
  out.push(`target: agent overhead < ${r.targetOverheadPct}% for every model: ${r.pass ? 'PASS' : 'FAIL'}`);
  return out.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { iterations: { type: 'string' }, threads: { type: 'string' }, json: { type: 'boolean' }, only: { type: 'string' } } });
  const r = await benchModels({
    iterations: values.iterations ? Number(values.iterations) : undefined,
    threads: values.threads ? Number(values.threads) : undefined,
    only: values.only?.split(','),
    log: (l) => process.stderr.write(`${l}\n`),
  });
  process.stdout.write(values.json ? `${JSON.stringify(r)}\n` : `${formatModelBench(r)}\n`);
  process.exitCode = r.pass ? 0 : 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`bench models: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
