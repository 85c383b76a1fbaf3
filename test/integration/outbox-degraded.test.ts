/**
 * A state folder that cannot stop the line (issue 22, findings 1-4, outbox side): a full disk, a read-only
 * folder, a folder that is a file, and a stale lock whose pid now belongs to another process. The outbox starts
 * anyway, reports durability() false with the reason, refuses appends with a typed outcome (counted, one log line
 * per kind), and recovers by itself. Real tmpfs and bind mounts (root), real processes for the lock.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Outbox, OutboxRefusedError } from '../../agent/outbox/outbox.js';
import { formatLock, procView } from '../../agent/outbox/lock.js';
import type { Durability, OutboxOptions } from '../../agent/outbox/types.js';
import { alwaysTrusted, neverTrusted } from '../../agent/trusted-time.js';

const root = process.getuid?.() === 0;
let tmp: string;
const mounts: string[] = [];
const children: ChildProcess[] = [];
beforeEach(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'outbox-degraded-'));
});
afterEach(async () => {
  for (const m of mounts.splice(0).reverse()) spawnSync('umount', [m]);
  for (const c of children.splice(0)) c.kill('SIGKILL');
  await fsp.rm(tmp, { recursive: true, force: true });
});

function mount(args: string[]): void {
  const r = spawnSync('mount', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount ${args.join(' ')}: ${r.stderr}`);
}

/** Log lines as objects. */
function capture(): { log: pino.Logger; lines: Array<Record<string, unknown> & { msg: string; level: number }> } {
  const lines: Array<Record<string, unknown> & { msg: string; level: number }> = [];
  const log = pino({ level: 'info' }, new Writable({ write: (ch: Buffer, _e, cb) => (lines.push(JSON.parse(ch.toString())), cb()) }));
  return { log, lines };
}

const opts = (dir: string, extra: Partial<OutboxOptions> = {}): OutboxOptions => ({ dir, maxEvents: 10_000, maxBytes: 64 * 1024 * 1024, maxAgeDays: 30, reopenMs: 50, ...extra });
const body = (i: number) => Buffer.from(JSON.stringify({ i, pad: 'x'.repeat(200) }));

async function until(pred: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('stale outbox.lock', () => {
  it('a lock whose pid now belongs to another process (not an edge-agent) is taken over', async () => {
    const dir = path.join(tmp, 'outbox');
    await fsp.mkdir(dir);
    const other = spawn('sleep', ['30']);
    children.push(other);
    await until(() => procView.startTicks(other.pid!) !== undefined, 'sleep started');
    // Old format (pid only), as left by a power cut before this change.
    await fsp.writeFile(path.join(dir, 'outbox.lock'), `${other.pid}\n`);
    const ob = new Outbox(opts(dir));
    await ob.start();
    expect(ob.durability()).toEqual({ durable: true });
    await ob.stop();
    // New format: the right pid of a live node process, but another start time (the pid was reused).
    const node = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
    children.push(node);
    await until(() => procView.startTicks(node.pid!) !== undefined, 'node started');
    await fsp.writeFile(path.join(dir, 'outbox.lock'), formatLock({ pid: node.pid!, startTicks: procView.startTicks(node.pid!)! - 1, bootId: procView.bootId() }));
    const ob2 = new Outbox(opts(dir));
    await ob2.start();
    await ob2.stop();
    // A lock from an earlier boot: every process of that boot is gone.
    await fsp.writeFile(path.join(dir, 'outbox.lock'), formatLock({ pid: node.pid!, startTicks: procView.startTicks(node.pid!)!, bootId: '00000000-0000-0000-0000-000000000000' }));
    const ob3 = new Outbox(opts(dir));
    await ob3.start();
    await ob3.stop();
    // The same process, same boot, same start time: really in use.
    await fsp.writeFile(path.join(dir, 'outbox.lock'), formatLock({ pid: node.pid!, startTicks: procView.startTicks(node.pid!)!, bootId: procView.bootId() }));
    await expect(new Outbox(opts(dir)).start()).rejects.toThrow(new RegExp(`in use by process ${node.pid}`));
  });
});

describe('a state folder that cannot be used', () => {
  it('a --state-dir that is a file: starts, not durable, appends refused with a typed outcome and counted', async () => {
    const file = path.join(tmp, 'state');
    await fsp.writeFile(file, 'not a folder');
    const { log, lines } = capture();
    const ob = new Outbox(opts(path.join(file, 'outbox'), { log }));
    await ob.start();
    const d = ob.durability();
    expect(d.durable).toBe(false);
    expect(d.durable === false && d.reason).toMatch(/a path component is a file, not a folder: .*state\/outbox \(ENOTDIR\)/);
    for (let i = 0; i < 200; i++) {
      const o = await ob.offer('event', `e${i}`, body(i));
      expect(o).toMatchObject({ status: 'refused', reason: 'not-durable' });
    }
    const err = await ob.append('event', 'x', body(0)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutboxRefusedError);
    expect((err as OutboxRefusedError).reason).toBe('not-durable');
    expect(ob.stats()).toMatchObject({ appended: 0, queued: 0, durable: false, refused: { 'not-durable': 201 } });
    // One "degraded" line and one refusal line, no stack traces.
    expect(lines.filter((l) => /degraded: events not durable/.test(l.msg))).toHaveLength(1);
    expect(lines.filter((l) => /not queued/.test(l.msg))).toHaveLength(1);
    expect(lines.some((l) => 'err' in l || /\n\s+at /.test(JSON.stringify(l)))).toBe(false);
    await ob.stop();
  });

  it.skipIf(!root)('a read-only folder (bind mount): starts degraded, recovers by itself once writable, replays what it held', async () => {
    const dir = path.join(tmp, 'state');
    await fsp.mkdir(dir);
    // Something queued by an earlier run.
    const first = new Outbox(opts(path.join(dir, 'outbox')));
    await first.start();
    await first.append('event', 'earlier', body(1));
    await first.stop();
    mount(['--bind', dir, dir]);
    mounts.push(dir);
    mount(['-o', 'remount,bind,ro', dir]);
    const changes: Durability[] = [];
    const ob = new Outbox(opts(path.join(dir, 'outbox')));
    ob.onDurabilityChange((d) => changes.push(d));
    await ob.start();
    expect(ob.durability()).toMatchObject({ durable: false, reason: expect.stringMatching(/read-only filesystem: .*\(EROFS\)/) });
    expect(await ob.offer('event', 'during', body(2))).toMatchObject({ status: 'refused', reason: 'not-durable' });
    mount(['-o', 'remount,bind,rw', dir]);
    await until(() => ob.durability().durable, 'recovery after remount rw');
    expect(changes.map((c) => c.durable)).toEqual([false, true]);
    expect(ob.next(0)?.key).toBe('earlier');
    expect(await ob.offer('event', 'after', body(3))).toMatchObject({ status: 'queued', entry: { key: 'after', seq: 2 } });
    await ob.stop();
  });

  it.skipIf(!root)('a full disk at start (real 200 KiB tmpfs): starts degraded, recovers when space returns; a disk filling while running refuses with disk-full', async () => {
    const dir = path.join(tmp, 'state');
    await fsp.mkdir(dir);
    mount(['-t', 'tmpfs', '-o', 'size=200k', 'tmpfs', dir]);
    mounts.push(dir);
    // Fill it to the last block.
    const filler = path.join(dir, 'filler');
    spawnSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=4096'], { stdio: 'ignore' });
    const { log, lines } = capture();
    const ob = new Outbox(opts(path.join(dir, 'outbox'), { log }));
    await ob.start();
    expect(ob.durability()).toMatchObject({ durable: false, reason: expect.stringMatching(/disk full: .*\(ENOSPC\)/) });
    for (let i = 0; i < 300; i++) expect((await ob.offer('event', `e${i}`, body(i))).status).toBe('refused');
    await fsp.rm(filler);
    await until(() => ob.durability().durable, 'recovery once space returns');
    // Now fill it while running: the real result of each append, nothing counted as written when refused.
    const queued: string[] = [];
    let refused = 0;
    for (let i = 0; i < 2000 && refused < 50; i++) {
      const o = await ob.offer('event', `r${i}`, body(i));
      if (o.status === 'queued') queued.push(o.entry.key);
      else {
        expect(o.reason).toBe('disk-full');
        refused++;
      }
    }
    expect(refused).toBe(50);
    expect(queued.length).toBeGreaterThan(100);
    expect(ob.stats()).toMatchObject({ appended: queued.length, queued: queued.length, durable: false, refused: { 'disk-full': 50, 'not-durable': 300 } });
    // One line per kind of refusal, not one per event.
    expect(lines.filter((l) => l.reason === 'disk-full')).toHaveLength(1);
    expect(lines.filter((l) => l.reason === 'not-durable')).toHaveLength(1);
    await ob.stop();
  });
});

describe('outbox age vs wall-clock jumps', () => {
  it('a 40-day forward jump drops nothing queued in this run; replayed entries age only on a trusted clock', async () => {
    const dir = path.join(tmp, 'outbox');
    const clock = { mono: 0, wall: Date.UTC(2026, 0, 1), now: () => clock.mono, wallFn: () => clock.wall };
    const c = { now: () => clock.mono, wall: () => clock.wall };
    let ob = new Outbox(opts(dir, { clock: c, maxAgeDays: 30, wallTrust: alwaysTrusted }));
    await ob.start();
    for (let i = 0; i < 49; i++) await ob.append('event', `e${i}`, body(i));
    clock.wall += 40 * 86_400_000;
    clock.mono += 60_000;
    await ob.append('event', 'after-jump', body(50));
    expect(ob.stats()).toMatchObject({ queued: 50, droppedByReason: { age: 0 } });
    await ob.stop();
    // Restart with an unsynchronised clock: the earlier run's entries are not judged on it.
    ob = new Outbox(opts(dir, { clock: c, maxAgeDays: 30, wallTrust: neverTrusted }));
    await ob.start();
    expect(ob.stats()).toMatchObject({ queued: 50, droppedByReason: { age: 0 } });
    await ob.stop();
    // A synchronised clock 40 days on: the 49 from before the jump are too old, the newer one stays.
    ob = new Outbox(opts(dir, { clock: c, maxAgeDays: 30, wallTrust: alwaysTrusted }));
    await ob.start();
    expect(ob.stats()).toMatchObject({ queued: 1, droppedByReason: { age: 49 } });
    await ob.stop();
  });
});
