import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Frame, Geometry } from '../types.js';
import { encodeSnapshot, type SnapshotBox, type SnapshotResult } from './snapshot.js';

export interface SnapshotJob {
  id: number;
  frame: Omit<Frame, 'data' | 'release'>;
  pixels: ArrayBuffer;
  boxes: SnapshotBox[];
  maxBytes: number;
  geometry?: Geometry | undefined;
}

/**
 * The frame's fields as plain data: a frame carries `release()` (and a source may add more), and a function
 * cannot be copied to a worker (postMessage throws DataCloneError), so only the known value fields go.
 */
export function frameMeta(f: Frame): SnapshotJob['frame'] {
  return { seq: f.seq, captureMono: f.captureMono, captureWall: f.captureWall, ptsMs: f.ptsMs, width: f.width, height: f.height, format: f.format };
}

function plainBox(b: SnapshotBox): SnapshotBox {
  return { box: [b.box[0], b.box[1], b.box[2], b.box[3]], ...(b.label !== undefined ? { label: String(b.label) } : {}), ...(b.score !== undefined ? { score: Number(b.score) } : {}) };
}

export interface SnapshotReply {
  id: number;
  jpeg?: Uint8Array;
  width?: number;
  height?: number;
  quality?: number;
  error?: string;
}

/**
 * Encodes snapshots on a worker thread (started on first use, not keeping the process alive), one job at a
 * time in order. Where the compiled worker is not available (running from TypeScript sources) or the worker
 * dies, it encodes inline instead.
 */
export class SnapshotEncoder {
  private worker: Worker | undefined;
  private broken = false;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (r: SnapshotResult | undefined) => void; reject: (e: Error) => void }>();

  constructor(private readonly workerFile: string = fileURLToPath(new URL('./snapshot-worker.js', import.meta.url))) {}

  /** True when jobs run on the worker thread. */
  threaded(): boolean {
    return !this.broken && existsSync(this.workerFile);
  }

  /**
   * `owned`: the caller gives up `frame.data` (a private copy), so it moves to the worker without another copy;
   * otherwise the pixels are copied and the caller's buffer is left alone.
   */
  encode(frame: Frame, boxes: SnapshotBox[], maxBytes: number, geometry?: Geometry, owned = false): Promise<SnapshotResult | undefined> {
    const worker = this.ensureWorker();
    if (!worker) return Promise.resolve(encodeSnapshot(frame, boxes, maxBytes, geometry));
    const id = this.nextId++;
    const d = frame.data;
    const whole = d.byteOffset === 0 && d.byteLength === d.buffer.byteLength && d.buffer instanceof ArrayBuffer;
    const pixels = (owned && whole ? d.buffer : d.slice().buffer) as ArrayBuffer;
    const job: SnapshotJob = { id, frame: frameMeta(frame), pixels, boxes: boxes.map(plainBox), maxBytes, geometry: geometry && { ...geometry } };
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage(job, [pixels]);
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }

  private ensureWorker(): Worker | undefined {
    if (this.worker) return this.worker;
    if (!this.threaded()) return undefined;
    const w = new Worker(this.workerFile);
    w.unref();
    w.on('message', (r: SnapshotReply) => {
      const p = this.waiting.get(r.id);
      this.waiting.delete(r.id);
      if (!this.waiting.size) w.unref();
      if (!p) return;
      if (r.error) p.reject(new Error(r.error));
      else p.resolve(r.jpeg ? { jpeg: Buffer.from(r.jpeg.buffer, r.jpeg.byteOffset, r.jpeg.byteLength), width: r.width!, height: r.height!, quality: r.quality! } : undefined);
    });
    const fail = (err: Error) => {
      this.broken = true;
      this.worker = undefined;
      for (const p of this.waiting.values()) p.reject(err);
      this.waiting.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => {
      if (this.worker === w) fail(new Error(`snapshot worker exited (${code})`));
    });
    this.worker = w;
    return w;
  }
}
