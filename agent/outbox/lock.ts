import * as path from 'node:path';
import { AgentError } from '../errors.js';
import type { OutboxFs } from './types.js';

/**
 * One process per outbox folder: two agents appending to the same journal would interleave seqs.
 * The lock file holds the owner's pid; a lock left by a process that no longer exists (killed, power loss)
 * is taken over.
 */
export async function acquireLock(fs: OutboxFs, dir: string): Promise<void> {
  const file = path.join(dir, 'outbox.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fs.writeFile(file, `${process.pid}\n`, { flag: 'wx', mode: 0o640 });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number((await fs.readFile(file, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
      throw new AgentError('OUTBOX_FAILED', `outbox ${dir} is in use by process ${owner}`, {
        fix: 'stop the other edge-agent, or give this one its own --state-dir',
      });
    }
    await fs.unlink(file).catch(() => undefined);
  }
  throw new AgentError('OUTBOX_FAILED', `cannot take the lock ${file}`, { fix: 'remove the file if no edge-agent is running' });
}

export async function releaseLock(fs: OutboxFs, dir: string): Promise<void> {
  await fs.unlink(path.join(dir, 'outbox.lock')).catch(() => undefined);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
