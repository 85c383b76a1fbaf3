import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { AgentError, messageOf } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { systemClock, type Clock } from '../types.js';
import { alwaysTrusted, systemWallTrust, type WallTrust } from '../trusted-time.js';
import { AckLog, inRanges, mergeRanges } from './ack-log.js';
import { OutboxInUseError, acquireLock, releaseLock } from './lock.js';
import { RecordKind, decodeRecordAt, encodeRecord, payloadOffset } from './record.js';
import { SegmentWriter } from './segment-writer.js';
import { listSegments, loadSegment, type Segment } from './segments.js';
import type { AppendOutcome, DropReason, Durability, OutboxEntry, OutboxFs, OutboxKind, OutboxOptions, OutboxStats, RefusalReason } from './types.js';

interface Entry extends OutboxEntry {
  segment: Segment | undefined;
  offset: number;
  keyBytes: number;
  cached: Buffer | undefined;
  /** fsync'd: only durable entries are handed to senders. */
  durable: boolean;
  removed: boolean;
  /** Monotonic ms (clock.now()) of the append, for entries of this run: their age never follows the wall clock. */
  monoMs?: number;
}

interface Pending {
  entry: Entry;
  buf: Buffer;
  resolve: (o: AppendOutcome) => void;
}

const DAY_MS = 86_400_000;
/** While a full disk has at least this much free again, events are reported durable again. */
const RECOVER_FREE_BYTES = 64 * 1024;

/** An append that was refused: nothing was queued. `reason` says why (see RefusalReason). */
export class OutboxRefusedError extends AgentError {
  constructor(
    readonly reason: RefusalReason,
    detail: string,
    fix: string | undefined,
    cause?: unknown,
  ) {
    super('OUTBOX_FAILED', detail, { ...(fix ? { fix } : {}), ...(cause !== undefined ? { cause } : {}) });
  }
}

/** One line for a filesystem error on the state folder: what is wrong, in words, and the errno code. */
export function describeFsError(err: unknown, dir: string): { reason: string; fix: string; full: boolean } {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const what: Record<string, string> = {
    ENOSPC: 'disk full',
    EDQUOT: 'disk quota exceeded',
    EROFS: 'read-only filesystem',
    EACCES: 'permission denied',
    EPERM: 'permission denied',
    ENOTDIR: 'a path component is a file, not a folder',
    EEXIST: 'exists and is not a folder',
    ENOENT: 'missing',
    EIO: 'I/O error',
  };
  const full = code === 'ENOSPC' || code === 'EDQUOT';
  const reason = `${code && what[code] ? what[code] : messageOf(err)}: ${dir}${code ? ` (${code})` : ''}`;
  const fix = full
    ? `free space on the filesystem of ${dir} or lower events.outbox.maxBytes; events already queued are kept`
    : `make ${dir} a writable folder (--state-dir or stateDir in the config); the outbox retries by itself`;
  return { reason, fix, full };
}

/**
 * The durable outbox: an append-only journal of events and snapshots on disk.
 *
 * `append()` resolves only once the record is fsync'd (appends within one tick share one write and one
 * fdatasync: group commit). Senders walk the queue in seq order with `next()`, read `payload()`, and call
 * `ack()` after the broker's PUBACK; acks go to a separate journal, and a segment whose entries are all
 * acknowledged or dropped is deleted. After a restart only entries not acknowledged are queued again, in order.
 * Damaged records (torn tail after power loss, flipped bytes) are skipped and counted, never fatal.
 * Bounds (maxEvents, maxBytes, maxAgeDays) drop snapshots first, then the oldest events; every drop is
 * recorded in the ack journal and counted by reason.
 */
export class Outbox {
  private readonly fs: OutboxFs;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly segmentBytes: number;
  private readonly cacheLimit: number;
  private readonly maxAgeMs: number;
  private readonly acks: AckLog;
  private readonly segments = new Map<number, Segment>();
  private queue: Entry[] = [];
  private head = 0;
  private snapHead = 0;
  private eventHead = 0;
  private nextSeq = 1;
  private readonly writer: SegmentWriter;
  private batch: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private cacheBytes = 0;
  private ageTimer: NodeJS.Timeout | undefined;
  private started = false;
  private stopped = false;
  /** The journal is loaded and the folder locked: appends are written. */
  private opened = false;
  private locked = false;
  private state: Durability = { durable: true };
  private reopenTimer: NodeJS.Timeout | undefined;
  private readonly durabilityListeners = new Set<(d: Durability) => void>();
  private readonly refusalLog = new Map<RefusalReason, { at: number; since: number }>();
  private readonly trust: WallTrust;
  private readonly listeners = new Set<() => void>();
  private ackRewrite: Promise<void> | undefined;
  private readonly s: OutboxStats = {
    queued: 0,
    queuedBytes: 0,
    queuedSnapshots: 0,
    appended: 0,
    delivered: 0,
    replayed: 0,
    dropped: { events: 0, snapshots: 0 },
    droppedByReason: { maxEvents: 0, maxBytes: 0, age: 0, corrupt: 0 },
    corrupted: 0,
    corruptedBytes: 0,
    writeErrors: 0,
    refused: { 'not-durable': 0, 'disk-full': 0, 'write-failed': 0, 'too-large': 0, stopped: 0 },
    durable: true,
    segments: 0,
    oldestWallMs: undefined,
  };

  constructor(private readonly opts: OutboxOptions) {
    this.fs = opts.fs ?? fsp;
    this.clock = opts.clock ?? systemClock;
    this.log = (opts.log ?? silentLogger).child({ component: 'outbox' });
    this.segmentBytes = opts.segmentBytes ?? 4 * 1024 * 1024;
    this.cacheLimit = opts.cacheBytes ?? 8 * 1024 * 1024;
    this.maxAgeMs = opts.maxAgeDays * DAY_MS;
    this.trust = opts.wallTrust ?? (this.clock === systemClock ? systemWallTrust() : alwaysTrusted);
    this.acks = new AckLog(path.join(opts.dir, 'acks.log'), this.fs, opts.ackSyncMs ?? 500, this.log);
    this.writer = new SegmentWriter(opts.dir, this.fs, this.segmentBytes, {
      opened: (seg) => void this.segments.set(seg.firstSeq, seg),
      retired: async (seg) => {
        if (seg.pending === 0) await this.deleteSegment(seg);
      },
    });
  }

  /**
   * Loads the journal: entries not acknowledged by an earlier run are queued again, in order. A state folder
   * that cannot be used (missing and not creatable, read-only, a file, a full disk) does not stop the start:
   * the outbox reports `durability()` false with the reason, refuses appends (counted, one log line per kind and
   * minute) and tries again every `reopenMs` until it can. Only a folder held by another live edge-agent throws.
   */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    try {
      await this.open();
    } catch (err) {
      if (err instanceof OutboxInUseError) {
        this.started = false;
        throw err;
      }
      this.degrade(describeFsError(err, this.opts.dir).reason, err);
    }
    this.ageTimer = setInterval(() => this.expire(), 60_000);
    this.ageTimer.unref();
  }

  /** Whether new events are durably queued right now, and if not, why. */
  durability(): Durability {
    return { ...this.state };
  }

  /** Called whenever durability() changes (degraded, recovered). Returns an unsubscribe function. */
  onDurabilityChange(listener: (d: Durability) => void): () => void {
    this.durabilityListeners.add(listener);
    return () => this.durabilityListeners.delete(listener);
  }

  private async open(): Promise<void> {
    const dir = this.opts.dir;
    try {
      await this.fs.mkdir(dir, { recursive: true, mode: 0o750 });
    } catch (err) {
      // The recursive form reports ENOENT on a read-only or forbidden parent: the plain one gives the real cause.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') await this.fs.mkdir(dir, { mode: 0o750 });
      throw err;
    }
    await acquireLock(this.fs, dir);
    this.locked = true;
    try {
      await this.load();
    } catch (err) {
      this.resetLoaded();
      this.locked = false;
      await releaseLock(this.fs, dir);
      throw err;
    }
    this.opened = true;
    // Compact the ack journal to what the remaining segments still need, then enforce the bounds. On a full
    // disk the compaction fails; the old journal stays valid, so the outbox runs on (degraded until space returns).
    let compacted = true;
    try {
      await this.acks.rewrite(this.removedRanges(), this.clock.wall());
    } catch (err) {
      compacted = false;
      this.degrade(describeFsError(err, dir).reason, err);
    }
    this.expire();
    while (this.s.queued > this.opts.maxEvents) this.dropOldest('maxEvents');
    while (this.s.queuedBytes > this.opts.maxBytes) this.dropOldest('maxBytes');
    for (const seg of [...this.segments.values()]) if (seg.pending === 0) await this.deleteSegment(seg);
    this.s.segments = this.segments.size;
    if (this.s.replayed || this.s.corrupted) {
      this.log.info({ dir, replayed: this.s.replayed, corrupted: this.s.corrupted, segments: this.segments.size }, 'outbox loaded');
    }
    if (compacted) this.recover();
    if (this.s.queued) for (const l of this.listeners) l();
  }

  private async load(): Promise<void> {
    const dir = this.opts.dir;
    const ackLoad = await this.acks.load();
    this.s.corrupted += ackLoad.corrupted;
    this.s.corruptedBytes += ackLoad.corruptedBytes;
    let maxSeq = 0;
    for (const r of ackLoad.removed) maxSeq = Math.max(maxSeq, r[1]);
    for (const { name, firstSeq } of await listSegments(this.fs, dir)) {
      const loaded = await loadSegment(this.fs, dir, name, firstSeq);
      this.s.corrupted += loaded.corrupted;
      this.s.corruptedBytes += loaded.corruptedBytes;
      if (loaded.corrupted) this.log.warn({ file: loaded.segment.file, regions: loaded.corrupted, bytes: loaded.corruptedBytes }, 'outbox segment has damaged records (power loss?); they are skipped, the rest is replayed');
      const seg = loaded.segment;
      maxSeq = Math.max(maxSeq, firstSeq - 1);
      let last = -1;
      for (const rec of loaded.records) {
        if (rec.kind !== RecordKind.Event && rec.kind !== RecordKind.Snapshot) continue;
        // Seqs only grow; a record out of order is a copy left by resynchronisation, not a new one.
        if (rec.seq <= last) continue;
        last = rec.seq;
        maxSeq = Math.max(maxSeq, rec.seq);
        seg.lastSeq = Math.max(seg.lastSeq, rec.seq);
        if (inRanges(ackLoad.removed, rec.seq)) continue;
        const payload = rec.payload;
        const keyBytes = Buffer.byteLength(rec.key);
        const entry: Entry = {
          seq: rec.seq,
          kind: rec.kind === RecordKind.Event ? 'event' : 'snapshot',
          key: rec.key,
          wallMs: rec.wallMs,
          bytes: rec.length,
          segment: seg,
          offset: rec.offset,
          keyBytes,
          cached: this.cacheBytes + payload.length <= this.cacheLimit ? Buffer.from(payload) : undefined,
          durable: true,
          removed: false,
        };
        if (entry.cached) this.cacheBytes += payload.length;
        seg.pending++;
        this.push(entry);
      }
      this.segments.set(firstSeq, seg);
    }
    this.queue.sort((a, b) => a.seq - b.seq);
    this.nextSeq = maxSeq + 1;
    this.s.replayed = this.s.queued;
  }

  private resetLoaded(): void {
    this.queue = [];
    this.head = this.snapHead = this.eventHead = 0;
    this.segments.clear();
    this.cacheBytes = 0;
    Object.assign(this.s, { queued: 0, queuedBytes: 0, queuedSnapshots: 0, replayed: 0 });
  }

  /** Events are not durable: report it once per change (listeners, one log line) and keep trying to recover. */
  private degrade(reason: string, err?: unknown): void {
    const changed = this.state.durable || this.state.reason !== reason;
    if (changed) {
      this.state = { durable: false, reason, since: new Date(this.clock.wall()).toISOString() };
      this.s.durable = false;
      this.log.warn({ dir: this.opts.dir, code: (err as NodeJS.ErrnoException | undefined)?.code }, `degraded: events not durable (${reason}); outputs and detection run on, events are refused and counted until it recovers`);
      for (const l of this.durabilityListeners) l(this.durability());
    }
    this.scheduleReopen();
  }

  private recover(): void {
    if (this.state.durable) return;
    const was = this.state.reason;
    this.state = { durable: true };
    this.s.durable = true;
    this.log.info({ dir: this.opts.dir, was, refused: this.s.refused }, 'events durable again');
    for (const l of this.durabilityListeners) l(this.durability());
  }

  /** While degraded: reopen the folder (not opened yet) or look for free space again (opened, disk was full). */
  private scheduleReopen(): void {
    if (this.reopenTimer || this.stopped) return;
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = undefined;
      void this.retry();
    }, this.opts.reopenMs ?? 5_000);
    this.reopenTimer.unref();
  }

  private async retry(): Promise<void> {
    if (this.stopped || this.state.durable) return;
    if (!this.opened) {
      try {
        await this.open();
      } catch (err) {
        this.degrade(describeFsError(err, this.opts.dir).reason, err);
      }
      return;
    }
    try {
      const st = await fsp.statfs(this.opts.dir);
      if (st.bavail * st.bsize >= RECOVER_FREE_BYTES) {
        if (!this.acks.isOpen()) await this.acks.rewrite(this.removedRanges(), this.clock.wall());
        this.recover();
        return;
      }
    } catch {
      /* still unusable */
    }
    this.scheduleReopen();
  }

  /**
   * Queues one message; resolves once it is fsync'd. Rejects with an OutboxRefusedError (code OUTBOX_FAILED,
   * `reason`) when nothing was queued: not durable (state folder unusable), disk full, write failed, too large,
   * stopped. Same as `offer()`, for callers that prefer an exception.
   */
  async append(kind: OutboxKind, key: string, payload: Uint8Array): Promise<OutboxEntry> {
    const o = await this.offer(kind, key, payload);
    if (o.status === 'queued') return o.entry;
    throw new OutboxRefusedError(o.reason, o.detail, o.fix, o.cause);
  }

  /** Queues one message and resolves with the real outcome (never rejects): queued once fsync'd, or refused and why. */
  offer(kind: OutboxKind, key: string, payload: Uint8Array): Promise<AppendOutcome & { fix?: string; cause?: unknown }> {
    if (!this.started || this.stopped) return Promise.resolve(this.refuse('stopped', `outbox ${this.opts.dir} is not running`, 'start the sink before emitting'));
    if (!this.opened) {
      const reason = this.state.durable ? 'not opened' : this.state.reason;
      return Promise.resolve(this.refuse('not-durable', `events not durable (${reason}); ${kind} ${key} not queued`, describeFsError(undefined, this.opts.dir).fix));
    }
    const wallMs = this.clock.wall();
    const buf = encodeRecord(kind === 'event' ? RecordKind.Event : RecordKind.Snapshot, this.nextSeq, wallMs, key, payload);
    if (buf.length > this.opts.maxBytes) {
      return Promise.resolve(this.refuse('too-large', `${kind} ${key} (${buf.length} bytes) is larger than events.outbox.maxBytes (${this.opts.maxBytes})`, 'raise events.outbox.maxBytes'));
    }
    const seq = this.nextSeq++;
    const entry: Entry = { seq, kind, key, wallMs, bytes: buf.length, segment: undefined, offset: -1, keyBytes: Buffer.byteLength(key), cached: undefined, durable: false, removed: false, monoMs: this.clock.now() };
    if (this.cacheBytes + payload.length <= this.cacheLimit) {
      entry.cached = Buffer.from(payload);
      this.cacheBytes += payload.length;
    }
    // Make room first: expired entries, then snapshots before events, the oldest first.
    this.expire();
    while (this.s.queued + 1 > this.opts.maxEvents && this.dropOldest('maxEvents'));
    while (this.s.queuedBytes + buf.length > this.opts.maxBytes && this.dropOldest('maxBytes'));
    this.push(entry);
    return new Promise<AppendOutcome>((resolve) => {
      this.batch.push({ entry, buf, resolve });
      if (!this.flushing) this.flushing = this.flushLoop();
    });
  }

  /** Counts a refusal and logs it: one line per kind at most every logEveryMs, with how many were refused since. */
  private refuse(reason: RefusalReason, detail: string, fix: string | undefined, cause?: unknown, n = 1): AppendOutcome & { fix?: string; cause?: unknown } {
    this.s.refused[reason] += n;
    const now = this.clock.now();
    const last = this.refusalLog.get(reason);
    if (!last || now - last.at >= (this.opts.logEveryMs ?? 60_000)) {
      const since = this.s.refused[reason] - (last?.since ?? 0);
      this.refusalLog.set(reason, { at: now, since: this.s.refused[reason] });
      const code = (cause as NodeJS.ErrnoException | undefined)?.code;
      this.log.error({ dir: this.opts.dir, reason, refused: this.s.refused[reason], ...(last ? { sinceLastLine: since } : {}), ...(code ? { code } : {}) }, `${detail}${fix ? `: ${fix}` : ''}`);
    }
    return { status: 'refused', reason, detail, ...(fix ? { fix } : {}), ...(cause !== undefined ? { cause } : {}) };
  }

  /** The first durable, queued entry after `afterSeq` (0: from the start), or undefined. */
  next(afterSeq = 0): OutboxEntry | undefined {
    let lo = this.head;
    let hi = this.queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.queue[mid]!.seq <= afterSeq) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.queue.length; i++) {
      const e = this.queue[i]!;
      if (e.removed) continue;
      return e.durable ? e : undefined;
    }
    return undefined;
  }

  /** The payload of a queued entry; undefined when it is gone or its bytes on disk are damaged (then dropped). */
  async payload(e: OutboxEntry): Promise<Buffer | undefined> {
    const entry = e as Entry;
    if (entry.removed) return undefined;
    if (entry.cached) return entry.cached;
    const seg = entry.segment;
    if (!seg) return undefined;
    try {
      seg.readFh ??= await this.fs.open(seg.file, 'r');
      const buf = Buffer.allocUnsafe(entry.bytes);
      const { bytesRead } = await seg.readFh.read(buf, 0, entry.bytes, entry.offset);
      const rec = bytesRead === entry.bytes ? decodeRecordAt(buf, 0) : undefined;
      if (rec && rec.seq === entry.seq) return buf.subarray(payloadOffset(entry.keyBytes));
    } catch (err) {
      this.log.error({ err, file: seg.file }, 'cannot read a queued record back from the outbox');
    }
    if (!entry.removed) {
      this.log.warn({ seq: entry.seq, key: entry.key, file: seg.file }, 'queued record damaged on disk since it was written; dropped');
      this.remove(entry, RecordKind.Drop, 'corrupt');
    }
    return undefined;
  }

  /** Marks an entry delivered (after PUBACK). Returns false when it was already gone (dropped or acked). */
  ack(seq: number): boolean {
    const entry = this.find(seq);
    if (!entry || entry.removed || !entry.durable) return false;
    this.remove(entry, RecordKind.Ack, '');
    return true;
  }

  /** Called (synchronously, in order) whenever new durable entries are ready to send. */
  onReady(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stats(): OutboxStats {
    const first = this.next(0);
    return { ...this.s, dropped: { ...this.s.dropped }, droppedByReason: { ...this.s.droppedByReason }, refused: { ...this.s.refused }, segments: this.segments.size, oldestWallMs: first?.wallMs };
  }

  /** Waits for queued writes, flushes the ack journal, closes the files and releases the folder. */
  async stop(): Promise<void> {
    if (!this.started || this.stopped) return;
    this.stopped = true;
    if (this.ageTimer) clearInterval(this.ageTimer);
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    this.reopenTimer = undefined;
    if (!this.opened) return;
    while (this.flushing) await this.flushing;
    if (this.ackRewrite) await this.ackRewrite;
    await this.acks.close();
    await this.writer.close();
    for (const seg of this.segments.values()) await seg.readFh?.close().catch(() => undefined);
    if (this.locked) await releaseLock(this.fs, this.opts.dir);
  }

  private push(entry: Entry): void {
    this.queue.push(entry);
    this.s.queued++;
    this.s.queuedBytes += entry.bytes;
    if (entry.kind === 'snapshot') this.s.queuedSnapshots++;
  }

  private async flushLoop(): Promise<void> {
    // One tick of appends joins the batch before the write.
    await new Promise<void>((r) => setImmediate(r));
    while (this.batch.length) {
      const items = this.batch;
      this.batch = [];
      try {
        await this.writeBatch(items);
      } catch (err) {
        this.failBatch(items, err);
        continue;
      }
      for (const p of items) {
        p.entry.durable = true;
        this.s.appended++;
        p.resolve({ status: 'queued', entry: p.entry });
      }
      this.recover();
      this.compactQueue();
      for (const l of this.listeners) l();
    }
    this.flushing = undefined;
  }

  private async writeBatch(items: Pending[]): Promise<void> {
    const { segment, offset } = await this.writer.write(items[0]!.entry.seq, items.map((p) => p.buf));
    let off = offset;
    for (const p of items) {
      p.entry.segment = segment;
      p.entry.offset = off;
      off += p.buf.length;
      if (!p.entry.removed) segment.pending++;
      segment.lastSeq = p.entry.seq;
    }
  }

  private failBatch(items: Pending[], err: unknown): void {
    this.s.writeErrors += items.length;
    const d = describeFsError(err, this.opts.dir);
    const detail = `outbox ${this.opts.dir}: ${d.full ? 'disk full' : 'write failed'} (${messageOf(err)}); ${items.length} event(s) not queued`;
    this.degrade(d.reason, err);
    const outcome = this.refuse(d.full ? 'disk-full' : 'write-failed', detail, d.full ? d.fix : `check the disk holding ${this.opts.dir}`, err, items.length);
    for (const p of items) {
      if (!p.entry.removed) this.unqueue(p.entry);
      p.resolve(outcome);
    }
  }

  private find(seq: number): Entry | undefined {
    let lo = this.head;
    let hi = this.queue.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const e = this.queue[mid]!;
      if (e.seq < seq) lo = mid + 1;
      else if (e.seq > seq) hi = mid - 1;
      else return e;
    }
    return undefined;
  }

  /** Drops the oldest snapshot, else the oldest event. Returns false when nothing is left to drop. */
  private dropOldest(reason: DropReason): boolean {
    let victim: Entry | undefined;
    if (this.s.queuedSnapshots > 0) {
      while (this.snapHead < this.queue.length) {
        const e = this.queue[this.snapHead]!;
        if (!e.removed && e.kind === 'snapshot') {
          victim = e;
          break;
        }
        this.snapHead++;
      }
    }
    if (!victim) {
      while (this.eventHead < this.queue.length) {
        const e = this.queue[this.eventHead]!;
        if (!e.removed && e.kind === 'event') {
          victim = e;
          break;
        }
        this.eventHead++;
      }
    }
    if (!victim) return false;
    this.remove(victim, RecordKind.Drop, reason);
    return true;
  }

  /**
   * Drops entries older than maxAgeDays. Entries of this run age on the monotonic clock (a wall clock jumping
   * forward drops nothing); entries replayed from an earlier run age on the wall clock only once it is trusted
   * (synchronised), else they are kept (the count and byte bounds still hold).
   */
  private expire(): void {
    const now = this.clock.now();
    const wall = this.clock.wall();
    const trusted = this.trust.trusted();
    for (let i = this.head; i < this.queue.length; i++) {
      const e = this.queue[i]!;
      if (e.removed) continue;
      const age = e.monoMs !== undefined ? now - e.monoMs : trusted ? wall - e.wallMs : 0;
      if (age <= this.maxAgeMs) break; // in seq order: the rest are younger (or not judged on an untrusted clock)
      this.remove(e, RecordKind.Drop, 'age');
    }
  }

  private remove(entry: Entry, kind: RecordKind.Ack | RecordKind.Drop, reason: DropReason | ''): void {
    this.unqueue(entry);
    if (kind === RecordKind.Ack) this.s.delivered++;
    else {
      const r = reason as DropReason;
      this.s.droppedByReason[r]++;
      if (entry.kind === 'snapshot') this.s.dropped.snapshots++;
      else this.s.dropped.events++;
      if (this.s.droppedByReason[r] === 1 || this.s.droppedByReason[r] % 1000 === 0) {
        this.log.warn({ reason: r, dropped: this.s.dropped, limits: { maxEvents: this.opts.maxEvents, maxBytes: this.opts.maxBytes, maxAgeDays: this.opts.maxAgeDays } }, `outbox full: dropping the oldest ${entry.kind}s (${r})`);
      }
    }
    // Not yet written: the write still happens, and the journal records that it left the queue.
    this.acks.record(kind, reason, [entry.seq]);
    const seg = entry.segment;
    if (seg && entry.durable) {
      seg.pending--;
      if (seg.pending === 0 && seg !== this.writer.activeSegment()) void this.deleteSegment(seg);
    }
    this.compactQueue();
    if (!this.ackRewrite && !this.stopped && this.acks.byteSize() > (this.opts.ackLogMaxBytes ?? 256 * 1024)) {
      this.ackRewrite = this.acks.rewrite(this.removedRanges(), this.clock.wall()).catch(() => undefined).finally(() => {
        this.ackRewrite = undefined;
      });
    }
  }

  private unqueue(entry: Entry): void {
    entry.removed = true;
    this.s.queued--;
    this.s.queuedBytes -= entry.bytes;
    if (entry.kind === 'snapshot') this.s.queuedSnapshots--;
    if (entry.cached) {
      this.cacheBytes -= entry.cached.length;
      entry.cached = undefined;
    }
  }

  private compactQueue(): void {
    while (this.head < this.queue.length && this.queue[this.head]!.removed) this.head++;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.snapHead = Math.max(0, this.snapHead - this.head);
      this.eventHead = Math.max(0, this.eventHead - this.head);
      this.head = 0;
    }
    this.snapHead = Math.max(this.snapHead, this.head);
    this.eventHead = Math.max(this.eventHead, this.head);
  }

  private async deleteSegment(seg: Segment): Promise<void> {
    if (!this.segments.delete(seg.firstSeq)) return;
    await seg.readFh?.close().catch(() => undefined);
    seg.readFh = undefined;
    await this.fs.unlink(seg.file).catch((err: unknown) => this.log.warn({ err, file: seg.file }, 'cannot delete a delivered outbox segment'));
  }

  /** Seqs inside the living segments that are no longer queued, as ranges (what the ack journal must keep). */
  private removedRanges(): Array<[number, number]> {
    const queued = new Set<number>();
    for (let i = this.head; i < this.queue.length; i++) if (!this.queue[i]!.removed) queued.add(this.queue[i]!.seq);
    const out: Array<[number, number]> = [];
    for (const seg of this.segments.values()) {
      let start = -1;
      for (let s = seg.firstSeq; s <= seg.lastSeq; s++) {
        if (!queued.has(s)) {
          if (start < 0) start = s;
        } else if (start >= 0) {
          out.push([start, s - 1]);
          start = -1;
        }
      }
      if (start >= 0) out.push([start, seg.lastSeq]);
    }
    return mergeRanges(out);
  }
}
