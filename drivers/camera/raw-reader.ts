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
 * Cuts a raw video byte stream into frames of a fixed size.
 * Each frame gets its own buffer, because the consumer keeps it (inference, snapshots) after the next arrives.
 */
export class RawFrameReader {
  private buf: Buffer;
  private filled = 0;
  private readonly frameBytes: number;
  private readonly direct: boolean;
  private readonly layout: FrameLayout | undefined;

  constructor(
    layoutOrBytes: FrameLayout | number,
    private readonly onFrame: (data: Buffer) => void,
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

  push(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(this.frameBytes - this.filled, chunk.length - off);
      chunk.copy(this.buf, this.filled, off, off + n);
      this.filled += n;
      off += n;
      if (this.filled === this.frameBytes) {
        this.filled = 0;
        if (this.direct) {
          const full = this.buf;
          this.buf = Buffer.allocUnsafe(this.frameBytes);
          this.onFrame(full);
        } else {
          this.onFrame(this.place(this.buf));
        }
      }
    }
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

  /** Bytes of an incomplete trailing frame (a truncated stream). */
  partial(): number {
    return this.filled;
  }

  /** Forgets a partial frame (a restarted producer starts at a frame boundary). */
  reset(): void {
    this.filled = 0;
  }
}
