import type { TensorPacker } from '../preprocess/tensor.js';
import type { Frame, InferenceBackend, InputData, OutputTensor } from '../types.js';

/**
 * How the frame loop runs inference on one opened backend, picked once when the backend is opened (or swapped in,
 * or reloaded), never per frame: the loop only prepares a frame and awaits `infer`.
 * - inline: the backend's call runs in this thread (model.inferenceThread main, or TFLite's own blocking call made
 *   here): nothing can overlap it, so the loop takes, infers and finishes each frame in turn.
 * - queued: the backend runs its calls in a thread of its own (the ONNX Runtime worker), in order; the loop decodes
 *   the previous frame meanwhile, and a file read in full may keep `depth` calls queued there. Where the backend packs
 *   frames in its thread, the loop hands it 8-bit pixels.
 */
export interface InferenceRunner {
  readonly backend: InferenceBackend;
  readonly mode: 'inline' | 'queued';
  /** Calls that may be outstanding at once (1 inline; 1-2 queued). */
  readonly depth: number;
  /** Where frames are packed into the input tensor. */
  readonly packing: 'frame loop' | 'inference thread';
  /** The call's input for a frame: its packed tensor, or the frame itself for a backend that packs in its thread. */
  prepare(frame: Frame): InputData | 'frame';
  /** Starts the call. An input prepared by another runner (before a swap or reload) is packed here if need be. */
  infer(input: InputData | 'frame', frame: Frame): Promise<Record<string, OutputTensor>>;
}

export function createRunner(backend: InferenceBackend, packer: TensorPacker, inputName: string): InferenceRunner {
  return backend.runsIn?.() === 'main' ? new InlineRunner(backend, packer, inputName) : new QueuedRunner(backend, packer, inputName);
}

class InlineRunner implements InferenceRunner {
  readonly mode = 'inline' as const;
  readonly depth = 1;
  readonly packing = 'frame loop' as const;

  constructor(
    readonly backend: InferenceBackend,
    private readonly packer: TensorPacker,
    private readonly inputName: string,
  ) {}

  prepare(frame: Frame): InputData {
    return this.packer.pack(frame);
  }

  infer(input: InputData | 'frame', frame: Frame): Promise<Record<string, OutputTensor>> {
    return this.backend.run({ [this.inputName]: input === 'frame' ? this.packer.pack(frame) : input });
  }
}

class QueuedRunner implements InferenceRunner {
  readonly mode = 'queued' as const;
  readonly depth: number;
  readonly packing: 'frame loop' | 'inference thread';
  private readonly packsInThread: boolean;

  constructor(
    readonly backend: InferenceBackend,
    private readonly packer: TensorPacker,
    private readonly inputName: string,
  ) {
    this.depth = Math.max(1, Math.min(2, backend.maxInFlight?.() ?? 1));
    this.packsInThread = Boolean(backend.runFrame && backend.packsFrames?.());
    this.packing = this.packsInThread ? 'inference thread' : 'frame loop';
  }

  prepare(frame: Frame): InputData | 'frame' {
    if (!this.packsInThread) return this.packer.pack(frame);
    // The backend packs it in its own thread; a frame that does not fit is still the source's error, raised here.
    this.packer.check(frame);
    return 'frame';
  }

  infer(input: InputData | 'frame', frame: Frame): Promise<Record<string, OutputTensor>> {
    if (input === 'frame' && this.packsInThread) return this.backend.runFrame!(frame);
    return this.backend.run({ [this.inputName]: input === 'frame' ? this.packer.pack(frame) : input });
  }
}
