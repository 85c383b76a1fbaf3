import * as path from 'node:path';
import type { FileHandle } from 'node:fs/promises';
import type { OutboxFs } from './types.js';
import { FILE_HEADER_BYTES, SEGMENT_MAGIC, decodeFileHeader, scanRecords, type DecodedRecord } from './record.js';

/** One segment file: seg-<first seq, 16 digits>.log, records of contiguous increasing seqs. */
export interface Segment {
  name: string;
  file: string;
  firstSeq: number;
  lastSeq: number;
  /** Entries still queued (neither delivered nor dropped). */
  pending: number;
  size: number;
  readFh?: FileHandle;
}

const NAME_RE = /^seg-(\d{16})\.log$/;

export function segmentName(firstSeq: number): string {
  return `seg-${String(firstSeq).padStart(16, '0')}.log`;
}

export async function listSegments(fs: OutboxFs, dir: string): Promise<Array<{ name: string; firstSeq: number }>> {
  const names = await fs.readdir(dir);
  return names
    .map((name) => ({ name, m: NAME_RE.exec(name) }))
    .filter((x): x is { name: string; m: RegExpExecArray } => x.m !== null)
    .map((x) => ({ name: x.name, firstSeq: Number(x.m[1]) }))
    .sort((a, b) => a.firstSeq - b.firstSeq);
}

export interface LoadedSegment {
  segment: Segment;
  records: DecodedRecord[];
  corrupted: number;
  corruptedBytes: number;
  /** The file had no valid header (cut before the header reached disk, or overwritten). */
  badHeader: boolean;
}

export async function loadSegment(fs: OutboxFs, dir: string, name: string, firstSeq: number): Promise<LoadedSegment> {
  const file = path.join(dir, name);
  const buf = await fs.readFile(file);
  const header = decodeFileHeader(buf, SEGMENT_MAGIC);
  const segment: Segment = { name, file, firstSeq, lastSeq: firstSeq - 1, pending: 0, size: buf.length };
  if (!header) {
    // A file shorter than its header is a segment created right before a power cut: nothing was in it yet.
    if (buf.length < FILE_HEADER_BYTES) return { segment, records: [], corrupted: buf.length ? 1 : 0, corruptedBytes: buf.length, badHeader: true };
    const scan = scanRecords(buf, 0);
    return { segment, records: scan.records, corrupted: scan.corrupted + 1, corruptedBytes: scan.corruptedBytes, badHeader: true };
  }
  const scan = scanRecords(buf, FILE_HEADER_BYTES);
  return { segment, records: scan.records, corrupted: scan.corrupted, corruptedBytes: scan.corruptedBytes, badHeader: false };
}
