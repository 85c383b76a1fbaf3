import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { AgentError } from '../errors.js';
import { readBootId } from '../trusted-time.js';
import type { OutboxFs } from './types.js';

/** Another running edge-agent holds the folder: the one outbox failure that must stop a start. */
export class OutboxInUseError extends AgentError {
  constructor(dir: string, readonly owner: number) {
    super('OUTBOX_FAILED', `outbox ${dir} is in use by process ${owner}`, { fix: 'stop the other edge-agent, or give this one its own --state-dir' });
  }
}

/** What a lock file says about its owner. Old locks hold only the pid. */
export interface LockOwner {
  pid: number;
  /** The owner's start time, clock ticks after boot (field 22 of /proc/PID/stat). */
  startTicks?: number;
  /** The boot the owner ran in (/proc/sys/kernel/random/boot_id). */
  bootId?: string;
}

/** Where a live process is looked up; /proc by default, a folder in tests. */
export interface ProcView {
  /** Field 22 (starttime) of /proc/PID/stat, or undefined when there is no such process. */
  startTicks(pid: number): number | undefined;
  /** /proc/PID/cmdline split at NULs, or undefined. */
  cmdline(pid: number): string[] | undefined;
  bootId(): string | undefined;
}

export const procView: ProcView = {
  startTicks(pid) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // proc_pid_stat(5): "(comm)" may hold spaces and parentheses; fields after the last ")" start at field 3.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const v = Number(rest[22 - 3]);
      return Number.isFinite(v) ? v : undefined;
    } catch {
      return undefined;
    }
  },
  cmdline(pid) {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    } catch {
      return undefined;
    }
  },
  bootId: () => readBootId(),
};

export function formatLock(o: LockOwner): string {
  return `${o.pid}\n${o.startTicks ?? ''}\n${o.bootId ?? ''}\n`;
}

export function parseLock(text: string): LockOwner | undefined {
  const [pid, start, boot] = text.split('\n').map((s) => s.trim());
  const n = Number(pid);
  if (!Number.isInteger(n) || n <= 0) return undefined;
  const st = start ? Number(start) : NaN;
  return { pid: n, ...(Number.isFinite(st) ? { startTicks: st } : {}), ...(boot ? { bootId: boot } : {}) };
}

/**
 * Whether the process named by a lock still holds it. After a power cut the pid in a lock may belong to any
 * other process of the new boot: a lock is held only by a process of the same boot, started at the recorded time
 * (/proc/PID/stat starttime) and, for old locks without those, one that is node or edge-agent (/proc/PID/cmdline).
 */
export function lockHeld(o: LockOwner, proc: ProcView = procView): boolean {
  if (o.pid === process.pid) return false;
  const start = proc.startTicks(o.pid);
  if (start === undefined) return false;
  const boot = proc.bootId();
  if (o.bootId && boot && o.bootId !== boot) return false;
  if (o.startTicks !== undefined) return o.startTicks === start;
  const argv = proc.cmdline(o.pid);
  if (!argv) return true; // exists but unreadable (another user): do not take it
  // argv[0] "node", "/usr/bin/node", "node (title)"; or the agent's script anywhere on the line.
  return /(^|\/)(node|nodejs)\b/.test(argv[0] ?? '') || argv.some((a) => /edge-agent/.test(a));
}

/**
 * One process per outbox folder: two agents appending to the same journal would interleave seqs.
 * The lock file holds the owner's pid, its start time and the boot id; a lock left by a process that no longer
 * exists, or whose pid now belongs to another process (after a reboot), is taken over.
 */
export async function acquireLock(fs: OutboxFs, dir: string, proc: ProcView = procView): Promise<void> {
  const file = path.join(dir, 'outbox.lock');
  const me = formatLock({ pid: process.pid, ...optional('startTicks', proc.startTicks(process.pid)), ...optional('bootId', proc.bootId()) });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fs.writeFile(file, me, { flag: 'wx', mode: 0o640 });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = parseLock(await fs.readFile(file, 'utf8').catch(() => ''));
    if (owner && lockHeld(owner, proc)) throw new OutboxInUseError(dir, owner.pid);
    await fs.unlink(file);
  }
  throw new AgentError('OUTBOX_FAILED', `cannot take the lock ${file}`, { fix: 'remove the file if no edge-agent is running' });
}

export async function releaseLock(fs: OutboxFs, dir: string): Promise<void> {
  await fs.unlink(path.join(dir, 'outbox.lock')).catch(() => undefined);
}

function optional<K extends string, V>(k: K, v: V | undefined): Partial<Record<K, V>> {
  return v === undefined ? {} : ({ [k]: v } as Record<K, V>);
}
