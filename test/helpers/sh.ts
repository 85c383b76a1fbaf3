import { spawn } from 'node:child_process';

export interface Ran {
  status: number | null;
  /** The signal that ended it (the timeout's SIGKILL, say), else null. */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command without blocking the test worker's event loop. A spawnSync that lasts a minute (easily reached by a
 * 20-second tool on a 2-core machine running a second suite) starves vitest's RPC with its main process, which then
 * reports "Timeout calling onTaskUpdate" and fails the run although every test passed.
 */
export function sh(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeout ?? 600_000);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}
