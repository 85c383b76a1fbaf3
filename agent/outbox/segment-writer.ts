import * as path from 'node:path';
import type { FileHandle } from 'node:fs/promises';
import { syncDir } from './ack-log.js';
import { FILE_HEADER_BYTES, SEGMENT_MAGIC, encodeFileHeader } from './record.js';
import { segmentName, type Segment } from './segments.js';
import type { OutboxFs } from './types.js';

export interface SegmentHooks {
  /** A new segment file exists (header fsync'd, folder entry fsync'd). */
  opened(seg: Segment): void;
  /** The previous active segment was closed; delete it if nothing in it is queued any more. */
  retired(seg: Segment): Promise<void>;
}

/**
 * Appends framed records to the active segment: one writev + one fdatasync per batch, a new segment past
 * `segmentBytes`. A failed write (disk full, I/O error) has its partial bytes cut off and forces a new segment
 * for the next batch: retiring the old one deletes it when it holds nothing queued, which frees a full disk.
 */
export class SegmentWriter {
  private active: { segment: Segment; fh: FileHandle } | undefined;
  private poisoned = false;

  constructor(
    private readonly dir: string,
    private readonly fs: OutboxFs,
    private readonly segmentBytes: number,
    private readonly hooks: SegmentHooks,
  ) {}

  activeSegment(): Segment | undefined {
    return this.active?.segment;
  }

  /** Writes `bufs` (first seq `firstSeq`) durably; returns the segment and the offset of the first record. */
  async write(firstSeq: number, bufs: Buffer[]): Promise<{ segment: Segment; offset: number }> {
    if (!this.active || this.poisoned || this.active.segment.size >= this.segmentBytes) await this.rotate(firstSeq);
    const { segment, fh } = this.active!;
    const total = bufs.reduce((n, b) => n + b.length, 0);
    const before = segment.size;
    try {
      const { bytesWritten } = await fh.writev(bufs);
      if (bytesWritten !== total) throw Object.assign(new Error(`short write (${bytesWritten} of ${total} bytes)`), { code: 'ENOSPC' });
      await fh.datasync();
    } catch (err) {
      await fh.truncate(before).catch(() => undefined);
      this.poisoned = true;
      throw err;
    }
    segment.size = before + total;
    return { segment, offset: before };
  }

  async close(): Promise<void> {
    if (this.active) await this.active.fh.close().catch(() => undefined);
    this.active = undefined;
  }

  private async rotate(firstSeq: number): Promise<void> {
    const old = this.active;
    this.active = undefined;
    if (old) {
      await old.fh.close().catch(() => undefined);
      await this.hooks.retired(old.segment);
    }
    const name = segmentName(firstSeq);
    const file = path.join(this.dir, name);
    // O_APPEND: every write lands at the end, whatever a failed write left behind.
    const fh = await this.fs.open(file, 'ax', 0o640);
    try {
      await fh.write(encodeFileHeader(SEGMENT_MAGIC, firstSeq));
      await fh.datasync();
      await syncDir(this.fs, this.dir);
    } catch (err) {
      await fh.close().catch(() => undefined);
      await this.fs.unlink(file).catch(() => undefined);
      throw err;
    }
    const segment: Segment = { name, file, firstSeq, lastSeq: firstSeq - 1, pending: 0, size: FILE_HEADER_BYTES };
    this.hooks.opened(segment);
    this.active = { segment, fh };
    this.poisoned = false;
  }
}
