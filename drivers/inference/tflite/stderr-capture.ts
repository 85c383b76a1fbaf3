import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import koffi from 'koffi';

/**
 * TFLite prints some messages straight to file descriptor 2 (model verification errors, "INFO: Created
 * TensorFlow Lite XNNPACK delegate"), bypassing the interpreter's error reporter. A user must see one clear
 * line, so during the few synchronous calls that do this we point fd 2 at a temporary file and hand the text
 * back. No JavaScript runs during a synchronous FFI call; anything another thread writes in that window
 * is passed on to the real stderr afterwards.
 */
let libc: { dup: (fd: number) => number; dup2: (a: number, b: number) => number; open: (p: string, f: number, m: number) => number; close: (fd: number) => number } | null | undefined;

function loadLibc(): typeof libc {
  if (libc !== undefined) return libc;
  try {
    const l = koffi.load('libc.so.6');
    libc = {
      dup: l.func('int dup(int fd)') as (fd: number) => number,
      dup2: l.func('int dup2(int a, int b)') as (a: number, b: number) => number,
      open: l.func('int open(const char *path, int flags, int mode)') as (p: string, f: number, m: number) => number,
      close: l.func('int close(int fd)') as (fd: number) => number,
    };
  } catch {
    libc = null;
  }
  return libc;
}

/** O_WRONLY | O_CREAT | O_TRUNC on Linux (asm-generic/fcntl.h: 01 | 0100 | 01000). */
const O_WRONLY_CREAT_TRUNC = 0o1 | 0o100 | 0o1000;

export function captureStderr<T>(fn: () => T): { value: T; text: string } {
  const c = loadLibc();
  if (!c) return { value: fn(), text: '' };
  const dir = mkdtempSync(join(tmpdir(), 'edge-agent-tflite-'));
  const file = join(dir, 'stderr');
  const fd = c.open(file, O_WRONLY_CREAT_TRUNC, 0o600);
  const saved = fd >= 0 ? c.dup(2) : -1;
  if (fd < 0 || saved < 0) {
    if (fd >= 0) c.close(fd);
    rmSync(dir, { recursive: true, force: true });
    return { value: fn(), text: '' };
  }
  c.dup2(fd, 2);
  c.close(fd);
  let value: T;
  try {
    value = fn();
  } finally {
    c.dup2(saved, 2);
    c.close(saved);
  }
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const foreign = text.split('\n').filter((l) => l && !/^(INFO|ERROR|WARNING): /.test(l));
  if (foreign.length) process.stderr.write(`${foreign.join('\n')}\n`);
  return { value, text };
}
