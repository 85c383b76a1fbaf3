/**
 * The role interfaces. Data flows one way:
 * FrameSource -> preprocess -> InferenceBackend -> Decoder -> Tracker -> Rules -> Actuators / EventSinks.
 * agent/ owns these contracts; drivers/ implements the ones that touch the OS or hardware.
 */
import type { ManifestInput } from './model/manifest-schema.js';

/** A monotonic clock in milliseconds plus wall time; injected so tests can run on a fake clock. */
export interface Clock {
  /** Monotonic milliseconds (performance.now() in production). */
  now(): number;
  /** Wall-clock epoch milliseconds (Date.now() in production). */
  wall(): number;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  wall: () => Date.now(),
};

/** How frames delivered by a source map back onto the original picture (for boxes in source coordinates). */
export interface Geometry {
  /** Original picture size. */
  srcWidth: number;
  srcHeight: number;
  /** Size of the frames the source hands over (normally the model input size). */
  width: number;
  height: number;
  /** Letterbox: the picture occupies [padX, padX + contentWidth) x [padY, padY + contentHeight) of the frame. */
  padX: number;
  padY: number;
  contentWidth: number;
  contentHeight: number;
}

/**
 * rgb24/bgr24: packed 8-bit pixels; gray: one byte per pixel; gbrp: three 8-bit planes of width*height bytes in the
 * order G, B, R (ffmpeg's planar RGB), which ffmpeg writes from YUV for less CPU than packed RGB and with full chroma
 * interpolation, and which the packer turns into NCHW planes without de-interleaving.
 */
export type PixelFormat = 'rgb24' | 'bgr24' | 'gray' | 'gbrp';

export interface Frame {
  /** 0-based index of the frame in the source (for a file, its frame number). */
  seq: number;
  /** Capture time, monotonic ms on the agent's clock (what actuation deadlines are measured from). */
  captureMono: number;
  /** Capture time, wall-clock epoch ms (for events). */
  captureWall: number;
  /**
   * Media time in ms: for a file, the frame's position in the video (continuing across loops), so that
   * tracking and persistence behave the same however fast the file is read; for a live source, captureMono.
   */
  ptsMs: number;
  width: number;
  height: number;
  format: PixelFormat;
  /**
   * Pixels in `format`, width*height*channels bytes. Owned by the consumer once handed over, until it calls
   * `release()`: then the buffer goes back to the source and carries a later frame, so nothing may keep `data`
   * past that (event sinks copy the pixels they keep).
   */
  data: Uint8Array;
  /** Gives `data` back to the source for reuse (optional; idempotent). Without it the buffer is left to the GC. */
  release?: () => void;
}

export interface SourceStats {
  framesIn: number;
  framesDropped: number;
  restarts: number;
  /** Decoder messages saying the input is damaged or truncated (a file cut half-way, a corrupt stream). */
  inputErrors?: number;
}

/**
 * One camera, stream or file. The source hands over frames already scaled and converted by its subprocess.
 * In `latest` mode the newest frame replaces one not yet taken (and the drop is counted);
 * in `lossless` mode (files with --until-eof) the source is paused until the frame is taken.
 */
export interface FrameSource {
  readonly type: string;
  /** Human description for logs, e.g. "file conveyor.mp4 (640x480 @ 15 fps)". */
  describe(): string;
  start(): Promise<void>;
  /** The next frame, or null at the end of a finite source. Rejects with an AgentError when the source fails for good. */
  next(): Promise<Frame | null>;
  geometry(): Geometry;
  /** Nominal frame rate of the source, when known. */
  fps(): number | undefined;
  stats(): SourceStats;
  stop(): Promise<void>;
}

export type TensorDType = 'float32' | 'float16' | 'uint8' | 'int8' | 'int32' | 'int64';

export interface QuantParams {
  scale: number;
  zeroPoint: number;
}

export interface TensorInfo {
  name: string;
  /** Dimensions; -1 or a string for a dynamic dimension is reported as -1. */
  shape: number[];
  dtype: TensorDType;
  quant?: QuantParams;
}

/** A raw model output, always dequantised to float32 by the backend. */
export interface OutputTensor {
  data: Float32Array;
  dims: number[];
}

export type InputData = Float32Array | Uint8Array | Int8Array;

export type AcceleratorKind = 'cpu' | 'cuda' | 'tensorrt' | 'edgetpu';

export interface BackendLoadOptions {
  /** Absolute path of the model file. */
  file: string;
  /** Wanted accelerator; the backend reports what really runs in `accelerator()`. */
  accelerator: AcceleratorKind;
  threads?: number;
  /** Edge TPU device, e.g. "usb", "usb:0", "pci:0". */
  device?: string;
  /** Shapes for inputs with dynamic dimensions (from the manifest). */
  inputShapes?: Record<string, number[]>;
  /** Where a backend whose runtime blocks its thread runs the call: its own worker thread or the caller's. */
  thread?: 'worker' | 'main';
  /** Pin the backend's own inference thread to this CPU (model.pinInferenceThread); ignored without such a thread. */
  pinCpu?: number;
}

/** Loads one model variant and runs tensors. Knows nothing of boxes. */
export interface InferenceBackend {
  readonly type: string;
  load(opts: BackendLoadOptions): Promise<void>;
  inputs(): TensorInfo[];
  outputs(): TensorInfo[];
  /** Runs one inference; inputs by name, in the dtype of `inputs()`. Outputs by name, dequantised. */
  run(inputs: Record<string, InputData>): Promise<Record<string, OutputTensor>>;
  /** The accelerator that really ran the last load (may differ from the wanted one after a fallback). */
  accelerator(): AcceleratorKind;
  /** The thread inference calls run in: the agent's main thread, or one of the backend's own. */
  runsIn?(): 'worker' | 'main';
  /**
   * How many calls may be outstanding at once (default 1). A backend that queues calls in order on its own thread
   * says 2: the frame loop then hands it the next frame before the current one returns.
   */
  maxInFlight?(): number;
  /** The CPU the backend's own inference thread is pinned to (BackendLoadOptions.pinCpu), when it is. */
  pinnedCpu?(): number | undefined;
  /**
   * Packing in the backend's own thread (optional). After `packFrames(spec)` resolves true, `runFrame()` takes a
   * frame's 8-bit pixels (a quarter of a float tensor's bytes) and packs them into the model's input where the model
   * runs; a model with one input only. Resolves false when this backend cannot (then the frame loop packs).
   */
  packFrames?(spec: PackSpec): Promise<boolean>;
  /** Whether `runFrame()` may be used (packFrames() resolved true for the loaded model). */
  packsFrames?(): boolean;
  /** Packs the frame for the model's only input and runs it; the frame's pixels are copied before it returns. */
  runFrame?(frame: FramePixels): Promise<Record<string, OutputTensor>>;
  close(): Promise<void>;
}

/** What a backend needs to pack frames itself: the manifest's input (size, layout, dtype, colour, normalisation). */
export interface PackSpec {
  input: ManifestInput;
  /** The input's quantisation, for an 8-bit model input (from the backend's inputs()). */
  quant?: QuantParams;
}

/** The pixels of a frame, as a packer reads them. */
export type FramePixels = Pick<Frame, 'data' | 'width' | 'height' | 'format'>;

export interface Detection {
  classId: number;
  label: string;
  score: number;
  /** [x1, y1, x2, y2] normalised 0..1 to the source picture. */
  box: [number, number, number, number];
  /** Optional keypoints, normalised like box. */
  keypoints?: Array<[number, number]>;
}

export interface TrackedDetection extends Detection {
  trackId: number;
  /** Frames in which this track was seen so far. */
  hits: number;
}

export type ActionOutcome =
  | { type: 'pulse'; output: string; status: 'scheduled' | 'fired' | 'missed' | 'refused' | 'failed'; dueMono?: number; dueTs?: string; widthMs?: number; detail?: string }
  | { type: 'hold'; output: string; status: 'on' | 'refused' | 'failed'; durationMs?: number; detail?: string }
  | { type: 'event'; status: 'queued' | 'refused' | 'failed'; reason?: string; detail?: string };

export interface ModelRef {
  name: string;
  variant: string;
  sha256: string;
  accelerator?: AcceleratorKind;
}

/** An anomaly event as written to --events-out and published upstream. */
export interface AnomalyEvent {
  schema: number;
  id: string;
  ts: string;
  rule: string;
  label: string;
  score: number;
  bbox: [number, number, number, number];
  trackId: number | null;
  frame: { seq: number; ts: string };
  model: ModelRef;
  thresholds?: Record<string, number>;
  latencyMs?: Record<string, number>;
  actions: ActionOutcome[];
  device?: string;
  /** The camera (config `cameras:` name); absent for the single `source:` form. */
  camera?: string;
}

/** Accepts an event once it is durably queued; delivery is the sink's job. */
export interface EventSink {
  readonly type: string;
  start(): Promise<void>;
  emit(ev: AnomalyEvent): Promise<void>;
  stop(): Promise<void>;
}
