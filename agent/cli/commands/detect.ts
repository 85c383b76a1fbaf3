import { AgentError } from '../../errors.js';
import { createLogger } from '../../log.js';
import { parseCommandArgs } from '../args.js';
import { loadManifest } from '../../model/manifest.js';
import { resolveStateDir } from '../../paths.js';
import { modelConfigSchema } from '../../config/sections/model.js';

export const summary = 'run a model on one image and print the detections (optionally draw them into a PNG)';

const usage = `
usage: edge-agent detect --model MANIFEST --image FILE [--variant NAME] [--threshold X] [--json] [--out FILE.png]

Runs the model's decoder on a JPEG, PNG or BMP picture, exactly as the agent would on a camera frame, and
prints every detection with its label, score and box in the picture's own pixels.

  --model PATH      model manifest (manifest.json/.yaml, or its folder)
  --image FILE      picture to analyse (JPEG, PNG, BMP)
  --variant NAME    variant to run; default: the one the agent's selection picks here (best utility that can run)
  --threshold X     score threshold 0..1 (replaces decoder.scoreThreshold and the per-class thresholds)
  --json            print one JSON object: {"detections":[{"label","score","box":[x1,y1,x2,y2]}], ...}
  --out FILE.png    also write the picture with the boxes drawn
  --threads N       inference threads (default 1)
  --device DEV      Edge TPU device: usb, usb:N, pci, pci:N
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals, help } = parseCommandArgs(
    argv,
    {
      model: { type: 'string' },
      image: { type: 'string' },
      variant: { type: 'string' },
      threshold: { type: 'string' },
      json: { type: 'boolean' },
      out: { type: 'string' },
      threads: { type: 'string' },
      device: { type: 'string' },
    },
    usage,
  );
  if (help) return 0;
  if (positionals.length) throw new AgentError('USAGE', `unexpected argument "${positionals[0]}"`, { fix: 'see edge-agent detect --help' });
  if (!values.model) throw new AgentError('USAGE', '--model is required', { fix: 'give the model manifest: --model path/to/manifest.json' });
  if (!values.image) throw new AgentError('USAGE', '--image is required', { fix: 'give a picture: --image photo.jpg' });
  const threshold = values.threshold === undefined ? undefined : Number(values.threshold);
  if (threshold !== undefined && !(threshold >= 0 && threshold <= 1)) {
    throw new AgentError('USAGE', `--threshold ${values.threshold} is not a number between 0 and 1`, { fix: 'e.g. --threshold 0.4' });
  }
  const threads = values.threads === undefined ? 1 : Number(values.threads);
  if (!Number.isInteger(threads) || threads < 1) throw new AgentError('USAGE', `--threads ${values.threads} is not a positive integer`, { fix: 'e.g. --threads 2' });
  if (values.out && !values.out.toLowerCase().endsWith('.png')) throw new AgentError('USAGE', `--out ${values.out} must be a .png file`, { fix: 'e.g. --out annotated.png' });

  const log = createLogger({ level: (process.env.EDGE_AGENT_LOG_LEVEL as 'info' | undefined) ?? 'warn' }).child({ component: 'detect' });
  // Loaded here so that --help and usage errors never load a native runtime.
  const { ImageDetector } = await import('../../app/image-detector.js');
  const { createModelHost } = await import('../../app/compose.js');
  const manifest = loadManifest(values.model);
  const settings = modelConfigSchema.parse({ manifest: manifest.path, threads, ...(values.device ? { edgetpuDevice: values.device } : {}) });
  const host = createModelHost({ manifest, settings, stateDir: resolveStateDir(), job: 'file', log });
  let variant = values.variant;
  if (!variant) {
    const { selection, fileErrors } = await host.choose();
    // Every variant's file missing or unreadable is a missing input (66, the file's own error), not "unavailable" (69).
    const candidates = selection.variants.map((v) => v.name);
    if (!selection.selected && candidates.length && candidates.every((n) => fileErrors.has(n))) throw fileErrors.get(candidates[0]!);
    if (!selection.selected) throw new AgentError('BACKEND_UNAVAILABLE', `no variant of model ${manifest.name} can run here: ${selection.summary}`, { fix: 'run `edge-agent doctor --model ...` to see why each variant was rejected' });
    variant = selection.selected;
  }
  const det = await ImageDetector.open({ manifest, variant, threshold, host, log });
  try {
    const r = await det.detectFile(values.image);
    const round = (v: number, d = 1): number => Math.round(v * 10 ** d) / 10 ** d;
    if (values.out) {
      const { probeImage, readImageRgb, writePng } = await import('../../../drivers/image/read.js');
      const { drawDetections } = await import('../../../drivers/image/draw.js');
      const rgb = await readImageRgb(values.image, await probeImage(values.image));
      drawDetections(rgb, r.width, r.height, r.detections.map((d) => ({ box: d.boxPx, label: d.label, score: d.score, classId: d.classId })));
      await writePng(values.out, rgb, r.width, r.height);
    }
    if (values.json) {
      const out = {
        detections: r.detections.map((d) => ({
          label: d.label,
          score: round(d.score, 4),
          box: d.boxPx.map((v) => round(v)),
          ...(d.keypoints ? { keypoints: d.keypoints.map(([x, y]) => [round(x * r.width), round(y * r.height)]) } : {}),
        })),
        model: det.manifest.name,
        variant: det.opened.variant.name,
        accelerator: det.accelerator(),
        image: { file: values.image, width: r.width, height: r.height },
        timingsMs: Object.fromEntries(Object.entries(r.timingsMs).map(([k, v]) => [k.replace(/Ms$/, ''), round(v, 2)])),
      };
      process.stdout.write(`${JSON.stringify(out)}\n`);
    } else {
      const lines = [`${det.manifest.name}/${det.opened.variant.name} on ${det.accelerator()}: ${r.detections.length} detection${r.detections.length === 1 ? '' : 's'} in ${values.image} (${r.width}x${r.height})`];
      for (const d of r.detections) lines.push(`  ${d.label.padEnd(16)} ${d.score.toFixed(3)}  [${d.boxPx.map((v) => Math.round(v)).join(', ')}]`);
      const t = r.timingsMs;
      lines.push(`  time: read ${t.readMs.toFixed(1)} ms, preprocess ${t.preprocessMs.toFixed(1)} ms, inference ${t.inferenceMs.toFixed(1)} ms, decode ${t.decodeMs.toFixed(1)} ms`);
      if (values.out) lines.push(`  wrote ${values.out}`);
      process.stdout.write(`${lines.join('\n')}\n`);
    }
    return 0;
  } finally {
    await det.close();
    await host.close();
  }
}
