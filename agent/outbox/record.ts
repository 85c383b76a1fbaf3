import { crc32 } from './crc32.js';

/**
 * On-disk framing of the outbox journal. All integers little-endian.
 *
 * File header (16 bytes): magic "EAOB" (segment) or "EAOA" (ack journal), u16 version, u16 reserved, f64 first seq.
 *
 * Record: u32 RECORD_MAGIC, u32 body length, u32 CRC-32 of the body, then the body:
 *   u8 kind, u8 reserved, u16 key length, f64 seq, f64 wall-clock ms, key (UTF-8), payload.
 *
 * The per-record magic lets a reader resynchronise after a damaged record (flipped bytes in the middle of a
 * segment): it scans forward for the next magic whose length and CRC check out, so one bad record costs one
 * record, not the rest of the file. A torn tail (power cut mid-write) fails the length or CRC check and is
 * skipped the same way.
 */
export const FORMAT_VERSION = 1;
export const SEGMENT_MAGIC = 0x424f4145; // "EAOB" read as little-endian u32
export const ACKLOG_MAGIC = 0x414f4145; // "EAOA"
export const RECORD_MAGIC = 0x52ea0b5e;
export const FILE_HEADER_BYTES = 16;
export const RECORD_HEADER_BYTES = 12;
export const BODY_FIXED_BYTES = 20;
/** A record body larger than this is treated as corruption (a flipped length byte), never allocated. */
export const MAX_BODY_BYTES = 64 * 1024 * 1024;

export enum RecordKind {
  Event = 1,
  Snapshot = 2,
  /** Ack journal: payload is [from, to] f64 pairs of seqs delivered (PUBACK received). */
  Ack = 3,
  /** Ack journal: payload is [from, to] pairs of seqs dropped by the bounds; key is the reason. */
  Drop = 4,
}

export interface DecodedRecord {
  kind: RecordKind;
  seq: number;
  wallMs: number;
  key: string;
  payload: Buffer;
  /** Offset of the record's first byte in the file, and its total framed length. */
  offset: number;
  length: number;
}

export function encodeFileHeader(magic: number, firstSeq: number): Buffer {
  const b = Buffer.alloc(FILE_HEADER_BYTES);
  b.writeUInt32LE(magic, 0);
  b.writeUInt16LE(FORMAT_VERSION, 4);
  b.writeDoubleLE(firstSeq, 8);
  return b;
}

export function decodeFileHeader(buf: Buffer, magic: number): { version: number; firstSeq: number } | undefined {
  if (buf.length < FILE_HEADER_BYTES || buf.readUInt32LE(0) !== magic) return undefined;
  const version = buf.readUInt16LE(4);
  if (version !== FORMAT_VERSION) return undefined;
  return { version, firstSeq: buf.readDoubleLE(8) };
}

export function encodeRecord(kind: RecordKind, seq: number, wallMs: number, key: string, payload: Uint8Array): Buffer {
  const keyBytes = Buffer.from(key, 'utf8');
  if (keyBytes.length > 0xffff) throw new RangeError(`outbox record key longer than 65535 bytes`);
  const bodyLen = BODY_FIXED_BYTES + keyBytes.length + payload.length;
  const b = Buffer.allocUnsafe(RECORD_HEADER_BYTES + bodyLen);
  b.writeUInt32LE(RECORD_MAGIC, 0);
  b.writeUInt32LE(bodyLen, 4);
  const o = RECORD_HEADER_BYTES;
  b.writeUInt8(kind, o);
  b.writeUInt8(0, o + 1);
  b.writeUInt16LE(keyBytes.length, o + 2);
  b.writeDoubleLE(seq, o + 4);
  b.writeDoubleLE(wallMs, o + 12);
  keyBytes.copy(b, o + BODY_FIXED_BYTES);
  b.set(payload, o + BODY_FIXED_BYTES + keyBytes.length);
  b.writeUInt32LE(crc32(b.subarray(o)), 8);
  return b;
}

/** Decodes the record at `offset` of `buf`, or returns undefined when it is not a valid, complete record. */
export function decodeRecordAt(buf: Buffer, offset: number): DecodedRecord | undefined {
  if (offset + RECORD_HEADER_BYTES > buf.length) return undefined;
  if (buf.readUInt32LE(offset) !== RECORD_MAGIC) return undefined;
  const bodyLen = buf.readUInt32LE(offset + 4);
  if (bodyLen < BODY_FIXED_BYTES || bodyLen > MAX_BODY_BYTES) return undefined;
  const start = offset + RECORD_HEADER_BYTES;
  const end = start + bodyLen;
  if (end > buf.length) return undefined;
  const body = buf.subarray(start, end);
  if (crc32(body) !== buf.readUInt32LE(offset + 8)) return undefined;
  const kind = body.readUInt8(0) as RecordKind;
  if (kind < RecordKind.Event || kind > RecordKind.Drop) return undefined;
  const keyLen = body.readUInt16LE(2);
  if (BODY_FIXED_BYTES + keyLen > bodyLen) return undefined;
  return {
    kind,
    seq: body.readDoubleLE(4),
    wallMs: body.readDoubleLE(12),
    key: body.toString('utf8', BODY_FIXED_BYTES, BODY_FIXED_BYTES + keyLen),
    payload: body.subarray(BODY_FIXED_BYTES + keyLen),
    offset,
    length: RECORD_HEADER_BYTES + bodyLen,
  };
}

/** Offset of the payload inside a framed record, given its key length. */
export function payloadOffset(keyByteLength: number): number {
  return RECORD_HEADER_BYTES + BODY_FIXED_BYTES + keyByteLength;
}

export interface ScanResult {
  records: DecodedRecord[];
  /** Damaged regions skipped (each run of bytes between two valid records counts once). */
  corrupted: number;
  corruptedBytes: number;
  /** Offset just past the last valid record. */
  validEnd: number;
}

/**
 * Reads every valid record of a journal file body starting at `from`. Damaged bytes are skipped by scanning
 * for the next record magic; each damaged run is counted once.
 */
export function scanRecords(buf: Buffer, from = FILE_HEADER_BYTES): ScanResult {
  const records: DecodedRecord[] = [];
  let corrupted = 0;
  let corruptedBytes = 0;
  let off = from;
  let validEnd = from;
  let inDamage = false;
  let damageStart = 0;
  while (off < buf.length) {
    const rec = decodeRecordAt(buf, off);
    if (rec) {
      if (inDamage) {
        corrupted++;
        corruptedBytes += off - damageStart;
        inDamage = false;
      }
      records.push(rec);
      off += rec.length;
      validEnd = off;
      continue;
    }
    if (!inDamage) {
      inDamage = true;
      damageStart = off;
    }
    const next = buf.indexOf(MAGIC_BYTES, off + 1);
    if (next < 0) break;
    off = next;
  }
  if (inDamage) {
    corrupted++;
    corruptedBytes += buf.length - damageStart;
  }
  return { records, corrupted, corruptedBytes, validEnd };
}

const MAGIC_BYTES = (() => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(RECORD_MAGIC, 0);
  return b;
})();

/** Encodes seq ranges [from, to] (inclusive) as f64 pairs. */
export function encodeRanges(ranges: Array<[number, number]>): Buffer {
  const b = Buffer.allocUnsafe(ranges.length * 16);
  ranges.forEach(([a, z], i) => {
    b.writeDoubleLE(a, i * 16);
    b.writeDoubleLE(z, i * 16 + 8);
  });
  return b;
}

export function decodeRanges(payload: Buffer): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i + 16 <= payload.length; i += 16) out.push([payload.readDoubleLE(i), payload.readDoubleLE(i + 8)]);
  return out;
}

/** Collapses a list of seqs into sorted inclusive ranges. */
export function toRanges(seqs: number[]): Array<[number, number]> {
  const sorted = [...seqs].sort((a, b) => a - b);
  const out: Array<[number, number]> = [];
  for (const s of sorted) {
    const last = out[out.length - 1];
    if (last && s <= last[1] + 1) last[1] = Math.max(last[1], s);
    else out.push([s, s]);
  }
  return out;
}
