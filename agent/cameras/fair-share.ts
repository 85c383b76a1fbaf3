import { AgentError } from '../errors.js';
import type { AcceleratorKind, BackendLoadOptions, FramePixels, InferenceBackend, InputData, OutputTensor, PackSpec, TensorInfo } from '../types.js';

interface Job {
  start: (b: InferenceBackend) => Promise<Record<string, OutputTensor>>;
  resolve: (r: Record<string, OutputTensor>) => void;
  reject: (e: unknown) => void;
}

/**
 * One opened model served to several cameras, fairly: each camera gets a lane (an InferenceBackend of its own for
 * its frame loop) and the lanes take turns at the real backend, round-robin, so a camera with frames always ready
 * cannot starve a slower one. A lane has at most one call in flight (maxInFlight 1): its loop takes its next frame
 * only when the previous call is done, so the frame that waits for its turn is that camera's newest. The backend
 * keeps as many calls as it takes at once (2 for a backend queuing in its own thread, so it never idles between
 * cameras). Batching was measured and not chosen (scripts/bench/cameras.ts: the demo model's batch-4 call costs
 * about 4 single calls on this CPU, and waiting to fill a batch adds latency).
 * `replace()` puts a swapped or reloaded session behind every lane at once: all cameras move to it together.
 */
export class FairShare {
  private backend: InferenceBackend;
  private readonly lanes: string[] = [];
  private readonly waiting = new Map<string, Job[]>();
  private turn = 0;
  private inFlight = 0;
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
    return old;
  }

  /** The backend one camera's frame loop uses. */
  lane(camera: string): InferenceBackend {
    if (this.lanes.includes(camera)) throw new AgentError('INTERNAL', `camera ${camera} already has a lane on this model`);
    this.lanes.push(camera);
    this.waiting.set(camera, []);
    this.served.set(camera, 0);
    return new Lane(this, camera);
  }

  submit(camera: string, start: Job['start']): Promise<Record<string, OutputTensor>> {
    return new Promise((resolve, reject) => {
      this.waiting.get(camera)!.push({ start, resolve, reject });
      this.dispatch();
    });
  }

  private capacity(): number {
    return this.backend.runsIn?.() === 'main' ? 1 : Math.max(1, Math.min(2, this.backend.maxInFlight?.() ?? 1));
  }

  private dispatch(): void {
    while (this.inFlight < this.capacity()) {
      const camera = this.nextCamera();
      if (camera === undefined) return;
      const job = this.waiting.get(camera)!.shift()!;
      this.inFlight++;
      this.served.set(camera, (this.served.get(camera) ?? 0) + 1);
      let call: Promise<Record<string, OutputTensor>>;
      try {
        call = job.start(this.backend);
      } catch (err) {
        call = Promise.reject(err);
      }
      call.then(job.resolve, job.reject).finally(() => {
        this.inFlight--;
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

/** One camera's view of the shared backend: describes the session behind it, queues its calls for their turn. */
class Lane implements InferenceBackend {
  constructor(
    private readonly share: FairShare,
    readonly camera: string,
  ) {}

  get type(): string {
    return this.share.current().type;
  }

  load(_opts: BackendLoadOptions): Promise<void> {
    return Promise.reject(new AgentError('INTERNAL', 'a camera lane is not loaded: the model host opens the shared session'));
  }

  inputs(): TensorInfo[] {
    return this.share.current().inputs();
  }

  outputs(): TensorInfo[] {
    return this.share.current().outputs();
  }

  accelerator(): AcceleratorKind {
    return this.share.current().accelerator();
  }

  runsIn(): 'worker' | 'main' {
    return this.share.current().runsIn?.() ?? 'main';
  }

  maxInFlight(): number {
    return 1;
  }

  pinnedCpu(): number | undefined {
    return this.share.current().pinnedCpu?.();
  }

  packsFrames(): boolean {
    return this.share.current().packsFrames?.() ?? false;
  }

  packFrames(spec: PackSpec): Promise<boolean> {
    return this.share.current().packFrames?.(spec) ?? Promise.resolve(false);
  }

  run(inputs: Record<string, InputData>): Promise<Record<string, OutputTensor>> {
    return this.share.submit(this.camera, (b) => b.run(inputs));
  }

  get runFrame(): ((frame: FramePixels) => Promise<Record<string, OutputTensor>>) | undefined {
    if (!this.share.current().runFrame) return undefined;
    return (frame) => this.share.submit(this.camera, (b) => (b.runFrame ? b.runFrame(frame) : Promise.reject(new AgentError('INTERNAL', 'the swapped-in session does not pack frames'))));
  }

  /** The model host closes the shared session; a lane has nothing of its own to close. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
