import type { Readable } from 'node:stream';

/**
 * How the bytes a producer writes map onto the frame handed to the pipeline.
 * Most producers (ffmpeg) write the finished frame: `srcStride === width * channels` and no padding.
 * GStreamer pads RGB rows to 4 bytes and some producers only scale (the letterbox border is added here),
 * so a frame can be "content rows with a stride, placed at (padX, padY) in a frame filled with padValue".
 */
export interface FrameLayout {
  width: number;
  height: number;
  channels: number;
  contentWidth: number;
  contentHeight: number;
  padX: number;
  padY: number;
  /** Bytes per row in the producer's output (>= contentWidth * channels). */
  srcStride: number;
  padValue: number;
}

/** A layout where the producer writes exactly the frame. */
export function packedLayout(width: number, height: number, channels = 3): FrameLayout {
  return { width, height, channels, contentWidth: width, contentHeight: height, padX: 0, padY: 0, srcStride: width * channels, padValue: 0 };
}

/** Bytes one producer frame takes. */
export function producerFrameBytes(l: FrameLayout): number {
  return l.srcStride * l.contentHeight;
}

function isDirect(l: FrameLayout): boolean {
  return l.padX === 0 && l.padY === 0 && l.contentWidth === l.width && l.contentHeight === l.height && l.srcStride === l.width * l.channels;
}

/**
 * Spare frame buffers a reader keeps for reuse: enough for the frames a consumer holds at once (the slot, up to two
 * calls queued at the backend, one packed ahead, the one being finished); more are simply allocated, fewer reused.
 */
const SPARE_BUFFERS = 4;

/**
 * Cuts a raw video byte stream into frames of a fixed size.
 * Each frame gets its own buffer, because the consumer keeps it (inference, snapshots) after the next arrives;
 * buffers the consumer gives back with `recycle()` carry later frames, so a steady loop allocates none (a fresh
 * 225 KiB buffer per frame is ~27 MB/s of garbage at 120 fps, which the GC returns to the OS only now and then).
 * `onFrame` may return false to pause (a lossless consumer that is full): the rest of the current chunk is kept
 * and handed out by `resume()`, so no frame is ever offered to a full consumer.
 */
export class RawFrameReader {
  private buf: Buffer;
  private filled = 0;
  private queue: Buffer[] = [];
  private spare: Buffer[] = [];
  private paused = false;
  private readonly frameBytes: number;
  private readonly direct: boolean;
  private readonly layout: FrameLayout | undefined;

  constructor(
    layoutOrBytes: FrameLayout | number,
    private readonly onFrame: (data: Buffer) => boolean | void,
  ) {
    if (typeof layoutOrBytes === 'number') {
      this.frameBytes = layoutOrBytes;
      this.direct = true;
    } else {
      this.layout = layoutOrBytes;
      this.frameBytes = producerFrameBytes(layoutOrBytes);
      this.direct = isDirect(layoutOrBytes);
    }
    this.buf = Buffer.allocUnsafe(this.frameBytes);
  }

  attach(stream: Readable): void {
    stream.on('data', (chunk: Buffer) => this.push(chunk));
  }

  /**
   * Consumes a chunk; returns false when the consumer is paused (the rest waits for resume()). Chunks arriving
   * while paused are kept too: node resumes a child's stdout by itself when the child exits, so pausing the stream
   * alone cannot hold data back (what is kept is bounded by the pipe's capacity).
   */
  push(chunk: Buffer): boolean {
    if (this.paused) {
      this.queue.push(chunk);
      return false;
    }
    return this.consume(chunk);
  }

  private consume(chunk: Buffer): boolean {
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(this.frameBytes - this.filled, chunk.length - off);
      chunk.copy(this.buf, this.filled, off, off + n);
      this.filled += n;
      off += n;
      if (this.filled === this.frameBytes && !this.deliver()) {
        if (off < chunk.length) this.queue.unshift(chunk.subarray(off));
        return false;
      }
    }
    return true;
  }

  /**
   * Reading the pipe straight into the frame buffers (net.Socket's `onread` option, for a pipe of our own): each
   * read lands in the part of the current frame not yet filled (`buffer`, asked again after every read), and
   * `callback` counts it in, so a frame costs no copy, no chunk buffer and no stream 'data' event (against about four
   * 64 KiB chunks allocated, copied and emitted per 225 KiB frame). A read never spans two frames, so nothing waits
   * in the reader while the consumer is paused: `callback` returns false then, and the socket stops reading until
   * it is resumed.
   */
  directReads(): { buffer: () => Buffer; callback: (bytes: number) => boolean } {
    return {
      buffer: () => this.buf.subarray(this.filled),
      callback: (bytes) => this.filledBy(bytes),
    };
  }

  private filledBy(bytes: number): boolean {
    this.filled += bytes;
    return this.filled < this.frameBytes || this.deliver();
  }

  /** Hands the full frame buffer on; false (and paused) when the consumer wants no more for now. */
  private deliver(): boolean {
    this.filled = 0;
    let go: boolean | void;
    if (this.direct) {
      const full = this.buf;
      this.buf = this.spare.pop() ?? Buffer.allocUnsafe(this.frameBytes);
      go = this.onFrame(full);
    } else {
      go = this.onFrame(this.place(this.buf));
    }
    if (go === false) {
      this.paused = true;
      return false;
    }
    return true;
  }

  /** Continues with the bytes kept while paused; returns true when all were consumed without pausing again. */
  resume(): boolean {
    this.paused = false;
    while (this.queue.length) {
      if (!this.consume(this.queue.shift()!)) return false;
    }
    return true;
  }

  /** Copies content rows (dropping row padding) into a frame filled with the pad value. */
  private place(src: Buffer): Buffer {
    const l = this.layout!;
    const rowOut = l.width * l.channels;
    const rowIn = l.contentWidth * l.channels;
    const out = Buffer.alloc(rowOut * l.height, l.padValue);
    for (let y = 0; y < l.contentHeight; y++) {
      const s = y * l.srcStride;
      src.copy(out, (y + l.padY) * rowOut + l.padX * l.channels, s, s + rowIn);
    }
    return out;
  }

  /**
   * Takes back a frame buffer this reader handed out, once its consumer is done with it. Only whole-frame
   * buffers of direct layouts are kept (a placed frame is built fresh with its letterbox border).
   */
  recycle(b: Buffer): void {
    if (this.direct && b.length === this.frameBytes && b !== this.buf && this.spare.length < SPARE_BUFFERS && !this.spare.includes(b)) this.spare.push(b);
  }

  /** Whether bytes wait for resume() (a paused consumer). */
  hasPending(): boolean {
    return this.queue.length > 0;
  }

  /** Bytes of an incomplete trailing frame (a truncated stream). */
  partial(): number {
    return this.filled;
  }

  /** Forgets a partial frame (a restarted producer starts at a frame boundary). */
  reset(): void {
    this.filled = 0;
    this.queue = [];
    this.paused = false;
  }
}
