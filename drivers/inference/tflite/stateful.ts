import { AgentError } from '../../../agent/errors.js';
import type { AcceleratorKind, BackendLoadOptions, InferenceBackend, InputData, OutputTensor, TensorInfo } from '../../../agent/types.js';

/** [output name, input name]: the output of one frame becomes that input of the next (recurrent state). */
export type FeedbackPair = [string, string];

/**
 * Wraps a backend for recurrent models (e.g. the Coral/AutoML LSTM-SSD, whose LSTM cell and hidden state
 * leave as outputs and come back as inputs). The state inputs start at real 0 and are filled from the
 * previous frame's outputs; the caller feeds only the image. Works with any backend: outputs come back
 * dequantised and go in as float32, which the TFLite backend re-quantises exactly (same scale/zero point).
 */
export class StatefulBackend implements InferenceBackend {
  readonly type: string;
  private state = new Map<string, Float32Array>();

  constructor(
    private readonly inner: InferenceBackend,
    private readonly pairs: FeedbackPair[],
  ) {
    this.type = inner.type;
  }

  async load(opts: BackendLoadOptions): Promise<void> {
    await this.inner.load(opts);
    const ins = new Map(this.inner.inputs().map((t) => [t.name, t]));
    const outs = new Set(this.inner.outputs().map((t) => t.name));
    for (const [o, i] of this.pairs) {
      if (!outs.has(o) || !ins.has(i)) {
        throw new AgentError('MANIFEST_INVALID', `decoder.params.feedback pair ["${o}", "${i}"] does not name a model output and input`, {
          fix: `outputs: ${[...outs].join(', ')}; inputs: ${[...ins.keys()].join(', ')}`,
        });
      }
    }
    this.reset();
  }

  /** Forgets the recurrent state (e.g. after a scene cut or a camera restart). */
  reset(): void {
    this.state.clear();
    const ins = new Map(this.inner.inputs().map((t) => [t.name, t]));
    for (const [, i] of this.pairs) {
      const n = ins.get(i)!.shape.reduce((a, b) => a * Math.max(1, b), 1);
      this.state.set(i, new Float32Array(n));
    }
  }

  /** The wrapped backend (for measuring the bare runtime call). */
  get innerBackend(): InferenceBackend {
    return this.inner;
  }

  /** The value the state input `name` will get on the next run. */
  stateOf(name: string): Float32Array | undefined {
    return this.state.get(name);
  }

  /** Input tensors the caller must feed (the state inputs are filled here). */
  inputs(): TensorInfo[] {
    return this.inner.inputs();
  }

  outputs(): TensorInfo[] {
    return this.inner.outputs();
  }

  async run(inputs: Record<string, InputData>): Promise<Record<string, OutputTensor>> {
    const all: Record<string, InputData> = { ...inputs };
    for (const [name, v] of this.state) all[name] = v;
    const out = await this.inner.run(all);
    for (const [o, i] of this.pairs) this.state.set(i, out[o]!.data);
    return out;
  }

  accelerator(): AcceleratorKind {
    return this.inner.accelerator();
  }

  runsIn(): 'worker' | 'main' {
    return this.inner.runsIn?.() ?? 'main';
  }

  pinnedCpu(): number | undefined {
    return this.inner.pinnedCpu?.();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
