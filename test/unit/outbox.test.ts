import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Outbox } from '../../agent/outbox/outbox.js';
import type { OutboxEntry, OutboxFs, OutboxOptions } from '../../agent/outbox/types.js';
import { isAgentError } from '../../agent/errors.js';

let dir: string;
beforeEach(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'outbox-'));
});
afterEach(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

const base = (extra: Partial<OutboxOptions> = {}): OutboxOptions => ({ dir, maxEvents: 1000, maxBytes: 10_000_000, maxAgeDays: 30, ...extra });

async function open(extra: Partial<OutboxOptions> = {}): Promise<Outbox> {
  const ob = new Outbox(base(extra));
  await ob.start();
  return ob;
}

/** Everything queued, in send order, with payloads as strings. */
async function drain(ob: Outbox): Promise<Array<{ seq: number; kind: string; key: string; body: string }>> {
  const out: Array<{ seq: number; kind: string; key: string; body: string }> = [];
  let after = 0;
  for (let e = ob.next(after); e; e = ob.next(after)) {
    const p = await ob.payload(e);
    out.push({ seq: e.seq, kind: e.kind, key: e.key, body: p ? p.toString() : '<gone>' });
    after = e.seq;
  }
  return out;
}

const ev = (i: number) => Buffer.from(JSON.stringify({ i, pad: 'x'.repeat(50) }));

async function segmentFiles(): Promise<string[]> {
  return (await fsp.readdir(dir)).filter((n) => n.startsWith('seg-')).sort();
}

describe('Outbox journal', () => {
  it('replays everything not acknowledged after a restart, in order', async () => {
    let ob = await open();
    await Promise.all(Array.from({ length: 20 }, (_, i) => ob.append('event', `id-${i}`, ev(i))));
    for (let s = 1; s <= 5; s++) expect(ob.ack(s)).toBe(true);
    expect(ob.ack(3)).toBe(false);
    await ob.stop();

    ob = await open();
    const got = await drain(ob);
    expect(got.map((g) => g.key)).toEqual(Array.from({ length: 15 }, (_, i) => `id-${i + 5}`));
    expect(JSON.parse(got[0]!.body).i).toBe(5);
    expect(ob.stats()).toMatchObject({ queued: 15, replayed: 15, corrupted: 0 });
    // New appends continue the sequence after the replayed ones.
    const e = await ob.append('event', 'new', ev(99));
    expect(e.seq).toBe(21);
    await ob.stop();
  });

  it('shares one fdatasync between appends of the same tick and resolves none before its write', async () => {
    let syncs = 0;
    let writes = 0;
    const counting: OutboxFs = {
      ...fsp,
      open: (async (...args: Parameters<typeof fsp.open>) => {
        const fh = await fsp.open(...args);
        if (!String(args[0]).includes('seg-')) return fh;
        return new Proxy(fh, {
          get(t, p) {
            if (p === 'datasync') return async () => { syncs++; return t.datasync(); };
            if (p === 'writev') return async (b: Buffer[]) => { writes++; return t.writev(b); };
            const v = Reflect.get(t, p) as unknown;
            return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
          },
        });
      }) as typeof fsp.open,
    };
    const ob = await open({ fs: counting });
    const before = syncs;
    let resolved = 0;
    const all = Array.from({ length: 200 }, (_, i) => ob.append('event', `id-${i}`, ev(i)).then(() => { resolved++; }));
    expect(resolved).toBe(0);
    await Promise.all(all);
    // One write for the batch, one datasync for the segment header and one for the batch.
    expect(writes).toBe(1);
    expect(syncs - before).toBeLessThanOrEqual(2);
    expect(ob.stats().appended).toBe(200);
    await ob.stop();
  });

  it('drops snapshots before events, oldest first, and counts every drop', async () => {
    const ob = await open({ maxEvents: 5 });
    await ob.append('event', 'e1', ev(1));
    await ob.append('snapshot', 'e1', Buffer.alloc(100, 1));
    await ob.append('event', 'e2', ev(2));
    await ob.append('snapshot', 'e2', Buffer.alloc(100, 2));
    await ob.append('event', 'e3', ev(3));
    await ob.append('event', 'e4', ev(4));
    await ob.append('event', 'e5', ev(5));
    let got = await drain(ob);
    expect(got.map((g) => `${g.kind}:${g.key}`)).toEqual(['event:e1', 'event:e2', 'event:e3', 'event:e4', 'event:e5']);
    await ob.append('event', 'e6', ev(6));
    got = await drain(ob);
    expect(got.map((g) => g.key)).toEqual(['e2', 'e3', 'e4', 'e5', 'e6']);
    const st = ob.stats();
    expect(st.dropped).toEqual({ events: 1, snapshots: 2 });
    expect(st.droppedByReason.maxEvents).toBe(3);
    await ob.stop();
    // Drops are journalled: a restart does not bring them back.
    const again = await open({ maxEvents: 5 });
    expect((await drain(again)).map((g) => g.key)).toEqual(['e2', 'e3', 'e4', 'e5', 'e6']);
    await again.stop();
  });

  it('bounds the queued bytes', async () => {
    const ob = await open({ maxBytes: 1000 });
    for (let i = 0; i < 20; i++) await ob.append('event', `id-${i}`, Buffer.alloc(150, i));
    const st = ob.stats();
    expect(st.queuedBytes).toBeLessThanOrEqual(1000);
    expect(st.queued + st.dropped.events).toBe(20);
    expect(st.droppedByReason.maxBytes).toBe(st.dropped.events);
    expect((await drain(ob)).at(-1)!.key).toBe('id-19');
    await expect(ob.append('event', 'huge', Buffer.alloc(2000))).rejects.toThrow(/larger than events.outbox.maxBytes/);
    await ob.stop();
  });

  it('drops entries older than maxAgeDays', async () => {
    let wall = Date.UTC(2026, 0, 1);
    const clock = { now: () => 0, wall: () => wall };
    let ob = await open({ maxAgeDays: 1, clock });
    await ob.append('event', 'old', ev(1));
    wall += 12 * 3600_000;
    await ob.append('event', 'newer', ev(2));
    await ob.stop();
    wall += 13 * 3600_000;
    ob = await open({ maxAgeDays: 1, clock });
    expect((await drain(ob)).map((g) => g.key)).toEqual(['newer']);
    expect(ob.stats().droppedByReason.age).toBe(1);
    await ob.stop();
  });

  it('skips a torn tail record (power cut mid-write), counts it and replays the rest', async () => {
    let ob = await open();
    for (let i = 0; i < 10; i++) await ob.append('event', `id-${i}`, ev(i));
    await ob.stop();
    const [seg] = await segmentFiles();
    const file = path.join(dir, seg!);
    const { size } = await fsp.stat(file);
    await fsp.truncate(file, size - 20);
    ob = await open();
    expect((await drain(ob)).map((g) => g.key)).toEqual(Array.from({ length: 9 }, (_, i) => `id-${i}`));
    expect(ob.stats().corrupted).toBe(1);
    // The journal keeps working after the damage.
    await ob.append('event', 'after', ev(100));
    await ob.stop();
    ob = await open();
    expect((await drain(ob)).map((g) => g.key)).toEqual([...Array.from({ length: 9 }, (_, i) => `id-${i}`), 'after']);
    await ob.stop();
  });

  it('skips a record with flipped bytes in the middle and replays those after it', async () => {
    let ob = await open();
    const entries: OutboxEntry[] = [];
    for (let i = 0; i < 10; i++) entries.push(await ob.append('event', `id-${i}`, ev(i)));
    await ob.stop();
    const [seg] = await segmentFiles();
    const file = path.join(dir, seg!);
    const buf = await fsp.readFile(file);
    // Record 4 (0-based): flip bytes inside its payload so its CRC no longer matches.
    const recLen = entries[0]!.bytes;
    const at = 16 + 4 * recLen + 40;
    for (let k = 0; k < 4; k++) buf[at + k] = buf[at + k]! ^ 0xff;
    await fsp.writeFile(file, buf);
    ob = await open();
    const keys = (await drain(ob)).map((g) => g.key);
    expect(keys).toEqual(['id-0', 'id-1', 'id-2', 'id-3', 'id-5', 'id-6', 'id-7', 'id-8', 'id-9']);
    expect(ob.stats().corrupted).toBe(1);
    await ob.stop();
  });

  it('rotates segments by size and deletes those fully acknowledged', async () => {
    const ob = await open({ segmentBytes: 1000 });
    for (let i = 0; i < 40; i++) await ob.append('event', `id-${i}`, ev(i));
    const before = await segmentFiles();
    expect(before.length).toBeGreaterThan(3);
    for (let e = ob.next(0); e; e = ob.next(e.seq)) if (e.seq <= 35) ob.ack(e.seq);
    await new Promise((r) => setTimeout(r, 50));
    const after = await segmentFiles();
    expect(after.length).toBeLessThan(before.length);
    expect(after.length).toBeLessThanOrEqual(2);
    await ob.stop();
    const again = await open({ segmentBytes: 1000 });
    expect((await drain(again)).map((g) => g.key)).toEqual(['id-35', 'id-36', 'id-37', 'id-38', 'id-39']);
    await again.stop();
  });

  it('compacts the ack journal and reads payloads back from disk when not cached', async () => {
    let ob = await open({ cacheBytes: 0, ackLogMaxBytes: 600 });
    for (let i = 0; i < 60; i++) await ob.append('event', `id-${i}`, ev(i));
    for (let s = 1; s <= 50; s += 2) {
      ob.ack(s);
      await new Promise((r) => setImmediate(r));
    }
    const got = await drain(ob);
    expect(got.length).toBe(35);
    expect(JSON.parse(got[0]!.body).i).toBe(1);
    await ob.stop();
    const ackSize = (await fsp.stat(path.join(dir, 'acks.log'))).size;
    expect(ackSize).toBeLessThan(1200);
    ob = await open();
    expect((await drain(ob)).map((g) => g.key)).toEqual(got.map((g) => g.key));
    await ob.stop();
  });

  it('rejects writes on a full disk with one clear error and keeps what was queued', async () => {
    let full = false;
    const fullDisk: OutboxFs = {
      ...fsp,
      open: (async (...args: Parameters<typeof fsp.open>) => {
        const fh = await fsp.open(...args);
        return new Proxy(fh, {
          get(t, p) {
            if (p === 'writev') {
              return async (b: Buffer[]) => {
                if (full) {
                  // A real ENOSPC often lands after part of the data: write a few bytes, then fail.
                  await t.write(b[0]!.subarray(0, 7));
                  throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28 });
                }
                return t.writev(b);
              };
            }
            const v = Reflect.get(t, p) as unknown;
            return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
          },
        });
      }) as typeof fsp.open,
    };
    let ob = await open({ fs: fullDisk });
    for (let i = 0; i < 3; i++) await ob.append('event', `id-${i}`, ev(i));
    full = true;
    const err = await ob.append('event', 'lost', ev(3)).catch((e: unknown) => e);
    expect(isAgentError(err) && err.code).toBe('OUTBOX_FAILED');
    expect(String((err as Error).message)).toMatch(/disk full/);
    expect((err as { fix?: string }).fix).toMatch(/free space/);
    expect(ob.stats()).toMatchObject({ queued: 3, writeErrors: 1 });
    full = false;
    await ob.append('event', 'id-4', ev(4));
    await ob.stop();
    ob = await open();
    expect((await drain(ob)).map((g) => g.key)).toEqual(['id-0', 'id-1', 'id-2', 'id-4']);
    expect(ob.stats().corrupted).toBe(0);
    await ob.stop();
  });

  it('refuses a folder another live process holds', async () => {
    await fsp.writeFile(path.join(dir, 'outbox.lock'), `${process.ppid}\n`);
    await expect(open()).rejects.toThrow(/in use by process/);
    // A lock left by a dead process is taken over.
    await fsp.writeFile(path.join(dir, 'outbox.lock'), '999999999\n');
    const ob = await open();
    await ob.stop();
  });
});
