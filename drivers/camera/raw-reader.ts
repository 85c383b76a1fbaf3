import type { Readable } from 'node:stream';

/**
 * Cuts a raw video byte stream (ffmpeg -f rawvideo) into frames of a fixed size.
 * Each frame gets its own buffer, because the consumer keeps it (inference, snapshots) after the next arrives.
 */
export class RawFrameReader {
  private buf: Buffer;
  private filled = 0;

  constructor(
    private readonly frameBytes: number,
    private readonly onFrame: (data: Buffer) => void,
  ) {
    this.buf = Buffer.allocUnsafe(frameBytes);
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
        const full = this.buf;
        this.buf = Buffer.allocUnsafe(this.frameBytes);
        this.filled = 0;
        this.onFrame(full);
      }
    }
  }

  /** Bytes of an incomplete trailing frame (a truncated stream). */
  partial(): number {
    return this.filled;
  }
}
