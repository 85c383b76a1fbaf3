import * as path from 'node:path';
import type { FileHandle } from 'node:fs/promises';
import type { Logger } from '../log.js';
import type { OutboxFs } from './types.js';
import {
  ACKLOG_MAGIC,
  FILE_HEADER_BYTES,
  RecordKind,
  decodeFileHeader,
  decodeRanges,
  encodeFileHeader,
  encodeRecord,
  encodeRanges,
  scanRecords,
  toRanges,
} from './record.js';

const ACK_BATCH_MS = 10;

export interface AckLogLoad {
  /** Seqs delivered or dropped, as merged inclusive ranges. */
  removed: Array<[number, number]>;
  corrupted: number;
  corruptedBytes: number;
}

/**
 * The acknowledgement journal (acks.log): which seqs left the outbox (delivered after PUBACK, or dropped by
 * the bounds), as ranges. Appends are batched per tick and fsync'd at most every `syncMs`: losing the last
 * few acks to a power cut only means those events are delivered twice, which at-least-once allows.
 * It is rewritten atomically (temp file, fsync, rename, fsync of the folder) when it grows past its limit.
 */
export class AckLog {
  private fh: FileHandle | undefined;
  private size = 0;
  private pending: Array<{ kind: RecordKind; key: string; seqs: number[] }> = [];
  private chain: Promise<void> = Promise.resolve();
  private writeScheduled = false;
  private dirty = false;
  private syncTimer: NodeJS.Timeout | undefined;
  private failed = false;

  constructor(
    private readonly file: string,
    private readonly fs: OutboxFs,
    private readonly syncMs: number,
    private readonly log: Logger,
  ) {}

  byteSize(): number {
    return this.size;
  }

  async load(): Promise<AckLogLoad> {
    let buf: Buffer;
    try {
      buf = await this.fs.readFile(this.file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { removed: [], corrupted: 0, corruptedBytes: 0 };
      throw err;
    }
    if (buf.length === 0) return { removed: [], corrupted: 0, corruptedBytes: 0 };
    const header = decodeFileHeader(buf, ACKLOG_MAGIC);
    const scan = scanRecords(buf, header ? FILE_HEADER_BYTES : 0);
    const all: Array<[number, number]> = [];
    for (const r of scan.records) if (r.kind === RecordKind.Ack || r.kind === RecordKind.Drop) all.push(...decodeRanges(r.payload));
    return { removed: mergeRanges(all), corrupted: scan.corrupted + (header ? 0 : 1), corruptedBytes: scan.corruptedBytes };
  }

  /** Replaces the journal with one holding `ranges`, then keeps it open for appends. */
  rewrite(ranges: Array<[number, number]>, wallMs: number): Promise<void> {
    return this.enqueue(async () => {
      if (this.fh) await this.fh.close().catch(() => undefined);
      this.fh = undefined;
      const tmp = `${this.file}.tmp`;
      const body = ranges.length ? encodeRecord(RecordKind.Ack, 0, wallMs, '', encodeRanges(ranges)) : Buffer.alloc(0);
      const fh = await this.fs.open(tmp, 'w', 0o640);
      try {
        await fh.writev([encodeFileHeader(ACKLOG_MAGIC, 0), body]);
        await fh.datasync();
      } catch (err) {
        // A full disk: the old journal is still whole; the temp file would only take space.
        await fh.close().catch(() => undefined);
        await this.fs.unlink(tmp).catch(() => undefined);
        throw err;
      }
      await fh.close();
      await this.fs.rename(tmp, this.file);
      await syncDir(this.fs, path.dirname(this.file));
      this.fh = await this.fs.open(this.file, 'a', 0o640);
      this.size = FILE_HEADER_BYTES + body.length;
    });
  }

  /** Records seqs as delivered (Ack) or dropped (Drop, key = reason). Written within a tick, fsync'd later. */
  record(kind: RecordKind.Ack | RecordKind.Drop, key: string, seqs: number[]): void {
    const last = this.pending[this.pending.length - 1];
    if (last && last.kind === kind && last.key === key) last.seqs.push(...seqs);
    else this.pending.push({ kind, key, seqs: [...seqs] });
    if (this.writeScheduled) return;
    this.writeScheduled = true;
    // Acks need no fsync before anything (a lost one means a duplicate), so a few ms of batching saves one
    // write per event when events trickle in one at a time.
    setTimeout(() => {
      this.writeScheduled = false;
      void this.enqueue(() => this.writePending());
    }, ACK_BATCH_MS).unref();
  }

  /** Writes and fsyncs whatever is buffered, then closes the file. */
  async close(): Promise<void> {
    if (this.syncTimer) clearTimeout(this.syncTimer);
    this.syncTimer = undefined;
    await this.enqueue(async () => {
      await this.writePending();
      if (this.fh) {
        if (this.dirty) await this.fh.datasync().catch(() => undefined);
        await this.fh.close().catch(() => undefined);
      }
      this.fh = undefined;
    });
  }

  private enqueue(op: () => Promise<void>): Promise<void> {
    const next = this.chain.then(op);
    this.chain = next.catch((err: unknown) => {
      if (!this.failed) this.log.error({ err, file: this.file }, 'outbox ack journal write failed; acknowledged events may be delivered again after a restart');
      this.failed = true;
    });
    return next;
  }

  /** True while the journal file is open for appends (false after a rewrite failed, e.g. on a full disk). */
  isOpen(): boolean {
    return this.fh !== undefined;
  }

  private async writePending(): Promise<void> {
    if (!this.pending.length) return;
    // After a failed rewrite the old journal is still there: append to it.
    if (!this.fh) {
      try {
        this.fh = await this.fs.open(this.file, 'a', 0o640);
        this.size = (await this.fh.stat()).size;
      } catch {
        return; // the records stay pending until the folder takes writes again
      }
    }
    const batch = this.pending;
    this.pending = [];
    const bufs = batch.map((b) => encodeRecord(b.kind, 0, Date.now(), b.key, encodeRanges(toRanges(b.seqs))));
    const { bytesWritten } = await this.fh.writev(bufs);
    this.size += bytesWritten;
    this.failed = false;
    this.dirty = true;
    if (!this.syncTimer) {
      this.syncTimer = setTimeout(() => {
        this.syncTimer = undefined;
        void this.enqueue(async () => {
          if (this.fh && this.dirty) {
            this.dirty = false;
            await this.fh.datasync();
          }
        });
      }, this.syncMs);
      this.syncTimer.unref();
    }
  }
}

/** Sorts and merges inclusive ranges. */
export function mergeRanges(ranges: Array<[number, number]>): Array<[number, number]> {
  const sorted = ranges.map((r) => [r[0], r[1]] as [number, number]).sort((a, b) => a[0] - b[0]);
  const out: Array<[number, number]> = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else out.push(r);
  }
  return out;
}

/** True when `seq` lies in one of the merged, sorted `ranges`. */
export function inRanges(ranges: Array<[number, number]>, seq: number): boolean {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = ranges[mid]!;
    if (seq < r[0]) hi = mid - 1;
    else if (seq > r[1]) lo = mid + 1;
    else return true;
  }
  return false;
}

/** fsync of a folder so a rename or a new file survives a power cut (POSIX requires it for the entry). */
export async function syncDir(fs: OutboxFs, dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } catch {
    // Some filesystems refuse fsync on a directory (EINVAL); the data files themselves are already synced.
  } finally {
    await fh.close();
  }
}
