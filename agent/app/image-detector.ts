import { AgentError, messageOf } from '../errors.js';
import { prepareDecoder, type DecodeContext, type DecodeFn } from '../decode/index.js';
import { silentLogger, type Logger } from '../log.js';
import { findVariant, loadManifest, type DecoderSpec, type LoadedManifest, type VariantSpec } from '../model/manifest.js';
import type { OpenedVariant } from '../model/open-variant.js';
import type { ModelHost } from '../model/host.js';
import { modelConfigSchema } from '../config/sections/model.js';
import { resolveStateDir } from '../paths.js';
import { inputSize } from '../preprocess/geometry.js';
import { TensorPacker } from '../preprocess/tensor.js';
import type { AcceleratorKind, Detection, Geometry, InferenceBackend } from '../types.js';
import { createModelHost } from './compose.js';
import { probeImage, readImageForModel } from '../../drivers/image/read.js';

/** A detection with its box in source-image pixels. */
export interface PixelDetection extends Detection {
  boxPx: [number, number, number, number];
}

export interface DetectTimings {
  readMs: number;
  preprocessMs: number;
  inferenceMs: number;
  decodeMs: number;
  totalMs: number;
}

export interface ImageDetection {
  detections: PixelDetection[];
  width: number;
  height: number;
  geometry: Geometry;
  timingsMs: DetectTimings;
}

export interface DetectorOptions {
  /** Manifest file or folder, or an already loaded manifest. */
  manifest: string | LoadedManifest;
  /** Variant name; default: the first variant whose runtime and accelerator are usable here. */
  variant?: string;
  /** Overrides decoder.scoreThreshold (and drops per-class thresholds). */
  threshold?: number;
  threads?: number;
  edgetpuDevice?: string;
  log?: Logger;
  /** The model host to open through (default: one for this manifest with the config defaults, closed with the detector). */
  host?: ModelHost;
}

/** Whether a variant can run on this machine, with the reason when not (a quick check of its runtime library). */
export async function variantUsable(v: VariantSpec): Promise<string | undefined> {
  try {
    if (v.runtime === 'tflite') {
      (await import('../../drivers/inference/tflite/capi.js')).loadTfliteApi();
      if (v.accelerator === 'edgetpu') {
        const etpu = (await import('../../drivers/inference/tflite/edgetpu.js')).loadEdgeTpuApi();
        if (etpu.listDevices().length === 0) return 'no Edge TPU device found';
      }
    } else if (v.runtime === 'onnxruntime') {
      await (await import('../../drivers/inference/onnxruntime.js')).loadOrt();
      if (v.accelerator === 'edgetpu') return 'edgetpu variants need the tflite runtime';
    }
    return undefined;
  } catch (err) {
    return messageOf(err);
  }
}

/**
 * Runs a model (manifest + variant) on still images: the `detect` command, the shared-model tests and the
 * model benchmark use it. Same path as the agent: ffmpeg scales/letterboxes, TensorPacker packs, the
 * backend infers, the manifest's decoder decodes; recurrent models keep their state across calls.
 */
export class ImageDetector {
  private constructor(
    readonly manifest: LoadedManifest,
    readonly opened: OpenedVariant,
    private readonly packer: TensorPacker,
    private readonly decode: DecodeFn,
    private readonly spec: DecoderSpec,
    private readonly host: ModelHost,
    private readonly ownsHost: boolean,
  ) {}

  static async open(o: DetectorOptions): Promise<ImageDetector> {
    const log = o.log ?? silentLogger;
    const m = typeof o.manifest === 'string' ? loadManifest(o.manifest) : o.manifest;
    let variant: VariantSpec;
    if (o.variant) variant = findVariant(m, o.variant);
    else {
      const why: string[] = [];
      let found: VariantSpec | undefined;
      for (const v of m.variants) {
        const reason = await variantUsable(v);
        if (!reason) {
          found = v;
          break;
        }
        why.push(`${v.name}: ${reason}`);
      }
      if (!found) throw new AgentError('BACKEND_UNAVAILABLE', `no variant of model ${m.name} can run here (${why.join('; ')})`, { fix: 'install the missing runtime or add a variant for this machine' });
      variant = found;
    }
    const spec: DecoderSpec = o.threshold === undefined ? m.decoder : { ...m.decoder, scoreThreshold: o.threshold, classThresholds: {} };
    const decode = prepareDecoder(spec, m.labels);
    // Opened through the model host: recurrent state, thread and session bookkeeping as in the agent.
    const host = o.host ?? createModelHost({ manifest: m, settings: modelConfigSchema.parse({ manifest: m.path, threads: o.threads ?? 1, ...(o.edgetpuDevice ? { edgetpuDevice: o.edgetpuDevice } : {}) }), stateDir: resolveStateDir(), job: 'file', log });
    const opened = await host.openVariant(variant.name, { verify: false, thread: 'backend' }).catch(async (err: unknown) => {
      if (!o.host) await host.close();
      throw err;
    });
    const info = opened.backend.inputs().find((i) => i.name === opened.input.name);
    const packer = new TensorPacker(opened.input, { quant: info?.quant, buffers: 1 });
    return new ImageDetector(m, opened, packer, decode, spec, host, !o.host);
  }

  get backend(): InferenceBackend {
    return this.opened.backend;
  }

  accelerator(): AcceleratorKind {
    return this.opened.backend.accelerator();
  }

  /** Model input size in pixels. */
  inputSize(): { width: number; height: number } {
    return inputSize(this.opened.input);
  }

  /** Reads the image with ffmpeg (scaled for the model in the same pass) and detects. */
  async detectFile(file: string): Promise<ImageDetection> {
    const t0 = performance.now();
    const size = await probeImage(file);
    const { width, height } = this.inputSize();
    const inp = this.opened.input;
    const { data, geometry } = await readImageForModel(file, size, { width, height, resize: inp.resize, align: inp.letterboxAlign, color: inp.color, padValue: inp.padValue, resizeFilter: inp.resizeFilter });
    const readMs = performance.now() - t0;
    const r = await this.detectFrame(data, geometry);
    return { ...r, timingsMs: { ...r.timingsMs, readMs, totalMs: performance.now() - t0 } };
  }

  /** Packs a frame into the input tensor (the packer's reused buffer: copy it to keep it). */
  packOnly(data: Uint8Array): ReturnType<TensorPacker['pack']> {
    const { width, height } = this.inputSize();
    return this.packer.pack({ data, width, height });
  }

  /** Detects in a frame already scaled to the input size (packed RGB/BGR per the manifest). */
  async detectFrame(data: Uint8Array, geometry: Geometry): Promise<ImageDetection> {
    const t0 = performance.now();
    const { width, height } = this.inputSize();
    const tensor = this.packer.pack({ data, width, height });
    const t1 = performance.now();
    const outputs = await this.opened.backend.run({ [this.opened.input.name]: tensor });
    const t2 = performance.now();
    const ctx: DecodeContext = { spec: this.spec, labels: this.manifest.labels, inputWidth: width, inputHeight: height, geometry };
    const dets = this.decode(outputs, ctx);
    const t3 = performance.now();
    const W = geometry.srcWidth;
    const H = geometry.srcHeight;
    return {
      detections: dets.map((d) => ({ ...d, boxPx: [d.box[0] * W, d.box[1] * H, d.box[2] * W, d.box[3] * H] })),
      width: W,
      height: H,
      geometry,
      timingsMs: { readMs: 0, preprocessMs: t1 - t0, inferenceMs: t2 - t1, decodeMs: t3 - t2, totalMs: t3 - t0 },
    };
  }

  async close(): Promise<void> {
    await this.host.release(this.opened.backend);
    if (this.ownsHost) await this.host.close();
  }
}
