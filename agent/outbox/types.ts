import type * as fsp from 'node:fs/promises';
import type { Logger } from '../log.js';
import type { Clock } from '../types.js';
import type { WallTrust } from '../trusted-time.js';

export type OutboxKind = 'event' | 'snapshot';

/** Why an entry left the outbox without delivery. */
export type DropReason = 'maxEvents' | 'maxBytes' | 'age' | 'corrupt';

/** The filesystem calls the outbox makes; node:fs/promises by default, wrapped in tests to inject ENOSPC. */
export type OutboxFs = Pick<typeof fsp, 'open' | 'readdir' | 'readFile' | 'unlink' | 'rename' | 'mkdir' | 'writeFile' | 'stat'>;

export interface OutboxOptions {
  /** Folder of the journal (segments, ack journal, lock). Created if missing. */
  dir: string;
  /** Bounds on what is queued (not yet acknowledged); exceeding one drops snapshots first, then the oldest events. */
  maxEvents: number;
  maxBytes: number;
  maxAgeDays: number;
  /** A segment file is closed and a new one started past this size. */
  segmentBytes?: number;
  /** Payloads kept in memory for fast sending; beyond this they are read back from the segment files. */
  cacheBytes?: number;
  /** The ack journal is rewritten (compacted) past this size. */
  ackLogMaxBytes?: number;
  /** Acks are fsync'd at most this often (a lost ack only means a duplicate delivery). */
  ackSyncMs?: number;
  clock?: Clock;
  log?: Logger;
  fs?: OutboxFs;
  /**
   * Whether the wall clock may age out entries written by an earlier run (../trusted-time.ts). Entries of this
   * run age on the monotonic clock. Default: the system's synchronisation state with the system clock, trusted
   * with an injected clock.
   */
  wallTrust?: WallTrust;
  /** While the folder is unusable (missing, read-only, a file, full), it is tried again this often (ms). Default 5000. */
  reopenMs?: number;
  /** A "not durable" refusal of the same kind is logged at most this often (ms). Default 60000. */
  logEveryMs?: number;
}

/**
 * Whether new events are durably queued right now. `durable: false` while the state folder is unusable or the
 * disk refuses writes: the agent runs on (outputs, loop), events are refused and counted, and the outbox tries
 * again by itself; `reason` is one line naming the folder and the cause.
 */
export type Durability = { durable: true } | { durable: false; reason: string; since: string };

/** Why an append was refused (nothing was queued). */
export type RefusalReason = 'not-durable' | 'disk-full' | 'write-failed' | 'too-large' | 'stopped';

/** The real result of an append: queued (fsync'd) or refused, never "queued" before the write happened. */
export type AppendOutcome = { status: 'queued'; entry: OutboxEntry } | { status: 'refused'; reason: RefusalReason; detail: string };

/** One queued message. The outbox owns it; senders read `seq`, `kind`, `key` and call `payload()`. */
export interface OutboxEntry {
  readonly seq: number;
  readonly kind: OutboxKind;
  /** Event id (for a snapshot: the id of its event). */
  readonly key: string;
  readonly wallMs: number;
  /** Framed size on disk, counted against maxBytes. */
  readonly bytes: number;
}

export interface OutboxStats {
  queued: number;
  queuedBytes: number;
  queuedSnapshots: number;
  /** Appended (durably written) by this process. */
  appended: number;
  /** Removed after delivery (PUBACK) by this process. */
  delivered: number;
  /** Replayed from disk at start (queued, not acknowledged, by an earlier run). */
  replayed: number;
  dropped: { events: number; snapshots: number };
  droppedByReason: Record<DropReason, number>;
  /** Damaged regions skipped while loading (torn tail after power loss, flipped bytes). */
  corrupted: number;
  corruptedBytes: number;
  /** Writes that failed (disk full, I/O error): those emits were rejected; earlier entries are unaffected. */
  writeErrors: number;
  /** Appends refused, by reason (each one rejected to its caller; none of them counted as appended). */
  refused: Record<RefusalReason, number>;
  /** False while events are not durable (see Outbox.durability() for the reason). */
  durable: boolean;
  segments: number;
  /** Wall-clock ms of the oldest queued entry. */
  oldestWallMs: number | undefined;
}
