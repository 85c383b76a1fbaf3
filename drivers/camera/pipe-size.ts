import { closeSync, readFileSync } from 'node:fs';
import { libcFunc } from '../os/libc.js';

/**
 * The pipe a capture process writes frames into, made big enough for a few frames.
 *
 * Node gives a child's `stdio: 'pipe'` as one end of a UNIX socketpair (libuv, uv_spawn), whose buffer is
 * net.core.wmem_default (208 KiB on Debian 12), less than one 320x240 RGB frame (225 KiB); fcntl(F_SETPIPE_SZ)
 * does not apply to a socket. While the frame loop is busy with an inference nobody reads, so the decoder then
 * blocks part-way into the next frame and the loop waits for it afterwards (measured on the demo clip: 0.9 ms
 * per frame of waiting for the source). So the frame writer gets a real pipe (pipe2, O_CLOEXEC) enlarged with
 * fcntl(F_SETPIPE_SZ): the decoder works ahead during inference, and in latest mode the reader takes the queued
 * frames at once and keeps the newest, so the camera's own queue does not fill with stale frames either.
 *
 * F_SETPIPE_SZ = F_LINUX_SPECIFIC_BASE (1024) + 7 (include/uapi/linux/fcntl.h); the size is capped by
 * /proc/sys/fs/pipe-max-size for unprivileged processes (1 MiB by default). O_CLOEXEC = 02000000 (asm-generic/fcntl.h).
 */
const F_SETPIPE_SZ = 1031;
const O_CLOEXEC = 0o2000000;

type Fcntl = (fd: number, cmd: number, arg: number) => number;
type Pipe2 = (fds: Int32Array, flags: number) => number;
let libc: { fcntl: Fcntl; pipe2: Pipe2 } | null | undefined;

/** pipe2 and fcntl through koffi (../os/libc.ts); null where they are not reachable (the child's own stdout is used). */
function loadLibc(): { fcntl: Fcntl; pipe2: Pipe2 } | null {
  if (libc !== undefined) return libc;
  const fcntl = libcFunc<Fcntl>('int fcntl(int fd, int cmd, int arg)');
  const pipe2 = libcFunc<Pipe2>('int pipe2(_Out_ int *fds, int flags)');
  libc = typeof fcntl === 'string' || typeof pipe2 === 'string' ? null : { fcntl, pipe2 };
  return libc;
}

function pipeMax(): number {
  try {
    return Number(readFileSync('/proc/sys/fs/pipe-max-size', 'utf8').trim()) || 1 << 20;
  } catch {
    return 1 << 20;
  }
}

export interface FramePipe {
  readFd: number;
  writeFd: number;
  /** Bytes the pipe holds. */
  size: number;
}

/** A pipe holding about `bytes` (capped by pipe-max-size), or undefined where pipe2/fcntl are not reachable. */
export function openFramePipe(bytes: number): FramePipe | undefined {
  const c = loadLibc();
  if (!c) return undefined;
  const fds = new Int32Array(2);
  if (c.pipe2(fds, O_CLOEXEC) !== 0) return undefined;
  const size = c.fcntl(fds[0]!, F_SETPIPE_SZ, Math.min(bytes, pipeMax()));
  if (size <= 0) {
    closeSync(fds[0]!);
    closeSync(fds[1]!);
    return undefined;
  }
  return { readFd: fds[0]!, writeFd: fds[1]!, size };
}
