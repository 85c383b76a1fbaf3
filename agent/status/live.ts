/**
 * The live picture of one camera for the status page. Work happens only while someone watches: a viewer is a
 * frame request waiting (long poll) or one made in the last `leaseMs`. With nobody watching, `offer()` returns
 * after one comparison and the frame provider is never called. While watched, at most `maxFps` frames a second
 * are copied and JPEG-encoded (off the main thread when the compiled worker exists); an offer made while an
 * encode is running is skipped, so the next frame taken is the newest one (latest frame wins, nothing queues).
 */
import type { SnapshotEncoder } from '../events/snapshot-encoder.js';
import type { Clock } from '../types.js';
import type { FrameProvider } from './source.js';

export interface EncodedFrame {
  /** Number of this picture for the camera (1, 2, ...): a viewer asks for one newer than what it has. */
  n: number;
  seq: number;
  ts: string;
  jpeg: Buffer;
  width: number;
  height: number;
  detections: Array<{ label: string; score: number; trackId: number; box: [number, number, number, number] }>;
  fired: Array<{ rule: string; label: string; trackId: number | null; bbox: [number, number, number, number] }>;
}

export interface LiveCounters {
  /** Frames offered by the loop. */
  offered: number;
  /** Provider calls (frames copied): 0 while nobody watches. */
  provided: number;
  encoded: number;
  /** Offers skipped while watched: rate cap or an encode still running. */
  skipped: number;
}

type Waiter = { after: number; resolve: (f: EncodedFrame | undefined) => void; timer: NodeJS.Timeout };

export class LiveView {
  readonly counters: LiveCounters = { offered: 0, provided: 0, encoded: 0, skipped: 0 };
  private latest: EncodedFrame | undefined;
  /** When `latest` was encoded (clock ms): a picture from before the viewer came back is not handed out as live. */
  private latestAt = -Infinity;
  private n = 0;
  private lastTaken = -Infinity;
  private lastRequest = -Infinity;
  private busy = false;
  private readonly waiters = new Set<Waiter>();

  constructor(
    private readonly encoder: SnapshotEncoder,
    private readonly clock: Clock,
    private readonly maxFps: number,
    private readonly onError: (err: unknown) => void,
    private readonly leaseMs = 3_000,
  ) {}

  watching(): boolean {
    return this.waiters.size > 0 || this.clock.now() - this.lastRequest < this.leaseMs;
  }

  /** Called for every processed frame. */
  offer(provide: FrameProvider): void {
    this.counters.offered++;
    if (!this.watching()) return;
    const now = this.clock.now();
    if (this.busy || now - this.lastTaken < 1000 / this.maxFps) {
      this.counters.skipped++;
      return;
    }
    this.lastTaken = now;
    this.counters.provided++;
    const live = provide();
    const f = live.frame;
    // The loop gives the frame's buffer back to the source after this call: copy now, hand the copy to the encoder.
    const { release: _release, ...rest } = f;
    const frame = { ...rest, data: f.data.slice() };
    const meta = {
      seq: f.seq,
      ts: new Date(f.captureWall).toISOString(),
      detections: live.detections.map((d) => ({ label: d.label, score: round(d.score), trackId: d.trackId, box: d.box.map(round) as [number, number, number, number] })),
      fired: live.fired.map((x) => ({ ...x, bbox: x.bbox.map(round) as [number, number, number, number] })),
    };
    this.busy = true;
    this.encoder
      .encode(frame, [], 8 << 20, live.geometry, true)
      .then((r) => {
        if (!r) return;
        this.counters.encoded++;
        this.publish({ n: ++this.n, ...meta, jpeg: r.jpeg, width: r.width, height: r.height });
      })
      .catch(this.onError)
      .finally(() => {
        this.busy = false;
      });
  }

  /**
   * The newest picture newer than `after`; waits up to `waitMs` for one. Resolves undefined on timeout. The
   * request itself makes the camera watched.
   */
  next(after: number, waitMs: number, signal?: AbortSignal): Promise<EncodedFrame | undefined> {
    this.lastRequest = this.clock.now();
    const fresh = this.clock.now() - this.latestAt < this.leaseMs;
    if (this.latest && this.latest.n > after && fresh) return Promise.resolve(this.latest);
    if (signal?.aborted) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const w: Waiter = {
        after,
        resolve: (f) => {
          clearTimeout(w.timer);
          this.waiters.delete(w);
          this.lastRequest = this.clock.now();
          resolve(f);
        },
        timer: setTimeout(() => w.resolve(undefined), waitMs),
      };
      w.timer.unref();
      // A viewer that went away stops counting as watching at once.
      signal?.addEventListener('abort', () => w.resolve(undefined), { once: true });
      this.waiters.add(w);
    });
  }

  /** Ends every waiting request (server stopping). */
  close(): void {
    for (const w of [...this.waiters]) w.resolve(undefined);
  }

  private publish(f: EncodedFrame): void {
    this.latest = f;
    this.latestAt = this.clock.now();
    for (const w of [...this.waiters]) if (f.n > w.after) w.resolve(f);
  }
}

function round(v: number): number {
  return Math.round(v * 10_000) / 10_000;
}
