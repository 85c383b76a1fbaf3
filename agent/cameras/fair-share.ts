import { AgentError } from '../errors.js';
import type { AcceleratorKind, BackendLoadOptions, FramePixels, InferenceBackend, InputData, OutputTensor, PackSpec, TensorInfo } from '../types.js';

interface Job {
  /** The session the call is for (its lane's). */
  backend: InferenceBackend;
  start: () => Promise<Record<string, OutputTensor>>;
  resolve: (r: Record<string, OutputTensor>) => void;
  reject: (e: unknown) => void;
}

/**
 * One opened model served to several cameras, fairly: each camera gets a lane (an InferenceBackend of its own for
 * its frame loop) and the lanes take turns at the real backend, round-robin, so a camera with frames always ready
 * cannot starve a slower one. A camera's frame loop keeps one call in flight when it reads a camera (it takes its
 * next frame only when the previous call is done, so the frame that waits for its turn is that camera's newest);
 * a file read in full may queue as many as the backend takes at once, as it would on a session of its own. The
 * backend keeps as many calls as it takes at once (2 for a backend queuing in its own thread, so it never idles
 * between calls or cameras). Round-robin, not batching: batching was tried and
 * cannot run here. The demo model's input is fixed at batch 1 (ONNX Runtime refuses a batch of 4: "Got invalid
 * dimensions for input: images ... index: 0 Got: 4 Expected: 1"), Edge TPU models are compiled for fixed shapes too,
 * and a batch would make each camera wait for the others' frames (latency) for a gain only a dynamic-batch model
 * on a wide accelerator could show.
 * A lane is bound to the session it was made for: `replace()` (a swap or reload) puts a new session in, and
 * `lane()` then gives each camera a new lane to it, so a call that was queued at the old session fails as that
 * session's, never as the new one's (the frame loop tells them apart by the backend object).
 */
export class FairShare {
  private backend: InferenceBackend;
  private readonly lanes: string[] = [];
  private readonly waiting = new Map<string, Job[]>();
  private turn = 0;
  /** Each camera's lane to the current session. */
  private readonly current_ = new Map<string, Lane>();
  /** Calls in flight by session: only the current session's count against its capacity (a hung call at a replaced one holds nobody up). */
  private readonly inFlight = new Map<InferenceBackend, number>();
  /** Calls served per camera (the bench's fairness figure). */
  readonly served = new Map<string, number>();

  constructor(backend: InferenceBackend) {
    this.backend = backend;
  }

  current(): InferenceBackend {
    return this.backend;
  }

  /** Puts another session behind every lane; returns the previous one (release it once its calls are done). */
  replace(next: InferenceBackend): InferenceBackend {
    const old = this.backend;
    this.backend = next;
    this.current_.clear();
    return old;
  }

  /** The backend one camera's frame loop uses now (a new one after each replace()). */
  lane(camera: string): InferenceBackend {
    if (!this.lanes.includes(camera)) {
      this.lanes.push(camera);
      this.waiting.set(camera, []);
      this.served.set(camera, 0);
    }
    let l = this.current_.get(camera);
    if (!l) this.current_.set(camera, (l = new Lane(this, camera, this.backend)));
    return l;
  }

  submit(camera: string, backend: InferenceBackend, start: Job['start']): Promise<Record<string, OutputTensor>> {
    return new Promise((resolve, reject) => {
      this.waiting.get(camera)!.push({ backend, start, resolve, reject });
      this.dispatch();
    });
  }

  private capacity(): number {
    return callsAtOnce(this.backend);
  }

  private dispatch(): void {
    while ((this.inFlight.get(this.backend) ?? 0) < this.capacity()) {
      const camera = this.nextCamera();
      if (camera === undefined) return;
      const job = this.waiting.get(camera)!.shift()!;
      const b = job.backend;
      this.inFlight.set(b, (this.inFlight.get(b) ?? 0) + 1);
      this.served.set(camera, (this.served.get(camera) ?? 0) + 1);
      let call: Promise<Record<string, OutputTensor>>;
      try {
        call = job.start();
      } catch (err) {
        call = Promise.reject(err);
      }
      call.then(job.resolve, job.reject).finally(() => {
        const n = (this.inFlight.get(b) ?? 1) - 1;
        if (n > 0) this.inFlight.set(b, n);
        else this.inFlight.delete(b);
        this.dispatch();
      });
    }
  }

  /** The next lane after the last one served that has a call waiting. */
  private nextCamera(): string | undefined {
    const n = this.lanes.length;
    for (let i = 0; i < n; i++) {
      const c = this.lanes[(this.turn + i) % n]!;
      if (this.waiting.get(c)!.length) {
        this.turn = (this.turn + i + 1) % n;
        return c;
      }
    }
    return undefined;
  }
}

/** Calls a session takes at once: 1 in the main thread, up to 2 queued at a backend's own thread. */
function callsAtOnce(b: InferenceBackend): number {
  return b.runsIn?.() === 'main' ? 1 : Math.max(1, Math.min(2, b.maxInFlight?.() ?? 1));
}

/** One camera's view of one shared session: describes it, queues this camera's calls to it for their turn. */
class Lane implements InferenceBackend {
  readonly type: string;

  constructor(
    private readonly share: FairShare,
    readonly camera: string,
    private readonly b: InferenceBackend,
  ) {
    this.type = b.type;
    if (b.runFrame) this.runFrame = (frame) => this.share.submit(this.camera, b, () => b.runFrame!(frame));
  }

  load(_opts: BackendLoadOptions): Promise<void> {
    return Promise.reject(new AgentError('INTERNAL', 'a camera lane is not loaded: the model host opens the shared session'));
  }

  inputs(): TensorInfo[] {
    return this.b.inputs();
  }

  outputs(): TensorInfo[] {
    return this.b.outputs();
  }

  accelerator(): AcceleratorKind {
    return this.b.accelerator();
  }

  runsIn(): 'worker' | 'main' {
    return this.b.runsIn?.() ?? 'main';
  }

  /**
   * What the session takes at once. Only a file read in full queues more than one call (the frame loop's prefetch):
   * with one, the inference thread would wait for each answer's round trip through the loop's thread before it got
   * the next frame (measured: 0.3-0.5 ms of every 3.3 ms frame idle on the demo clip). A camera's loop keeps one in
   * flight whatever this says, so the frame that waits for its turn is still that camera's newest.
   */
  maxInFlight(): number {
    return callsAtOnce(this.b);
  }

  pinnedCpu(): number | undefined {
    return this.b.pinnedCpu?.();
  }

  packsFrames(): boolean {
    return this.b.packsFrames?.() ?? false;
  }

  packFrames(spec: PackSpec): Promise<boolean> {
    return this.b.packFrames?.(spec) ?? Promise.resolve(false);
  }

  run(inputs: Record<string, InputData>): Promise<Record<string, OutputTensor>> {
    return this.share.submit(this.camera, this.b, () => this.b.run(inputs));
  }

  runFrame?: (frame: FramePixels) => Promise<Record<string, OutputTensor>>;

  /** The model host closes the shared session; a lane has nothing of its own to close. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
