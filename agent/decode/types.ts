import type { Detection, Geometry, OutputTensor } from '../types.js';
import type { DecoderSpec } from '../model/manifest-schema.js';

/** Everything a decoder needs besides the raw outputs; built once per model and reused for every frame. */
export interface DecodeContext {
  /** The manifest's `decoder` section (type, params, thresholds, NMS). */
  spec: DecoderSpec;
  labels: string[];
  /** Model input size in pixels (the tensor's spatial size). */
  inputWidth: number;
  inputHeight: number;
  /** Where the picture sits inside the frame fed to the model (letterbox), to map boxes back to the source. */
  geometry: Geometry;
}

/**
 * Raw outputs -> detections with boxes normalised 0..1 to the SOURCE picture (letterbox undone, clamped).
 * Pure apart from reused scratch buffers; throws AgentError when the outputs do not match the manifest.
 */
export type DecodeFn = (outputs: Record<string, OutputTensor>, ctx: DecodeContext) => Detection[];

/** One decoder family: its params schema and a factory that prepares per-model state (anchors, buffers). */
export interface DecoderDef<P> {
  type: string;
  /** One line for docs and errors. */
  summary: string;
  /** Validates `decoder.params`; a zod schema whose errors are reported as `decoder.params.<field>`. */
  parseParams(raw: unknown): P;
  /** Builds the per-model decode function (state such as generated anchors is cached inside). */
  create(params: P): DecodeFn;
}
