import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import koffi from 'koffi';

/**
 * Enlarges the pipe a capture process writes frames into. A Linux pipe holds 64 KiB by default (pipe(7)), less
 * than one 320x240 RGB frame (225 KiB). onnxruntime-node runs inference synchronously on the main thread, so for
 * the length of each inference nobody reads the pipe: with 64 KiB the decoder blocks a third of the way into the
 * next frame, and the loop then waits for it to finish decoding. With room for a few frames the decoder works
 * ahead during inference; in latest mode the reader then takes all of them at once and keeps the newest, so the
 * camera's own queue does not fill with stale frames either.
 *
 * fcntl(fd, F_SETPIPE_SZ, n): F_SETPIPE_SZ = F_LINUX_SPECIFIC_BASE (1024) + 7 (include/uapi/linux/fcntl.h); n is
 * capped by /proc/sys/fs/pipe-max-size for unprivileged processes (1 MiB by default).
 */
const F_SETPIPE_SZ = 1031;

type Fcntl = (fd: number, cmd: number, arg: number) => number;
let fcntl: Fcntl | null | undefined;

function loadFcntl(): Fcntl | null {
  if (fcntl !== undefined) return fcntl;
  fcntl = null;
  for (const name of ['libc.so.6', 'libc.so']) {
    try {
      fcntl = koffi.load(name).func('int fcntl(int fd, int cmd, int arg)') as Fcntl;
      break;
    } catch {
      // try the next name; no libc via koffi means the default pipe size, which still works
    }
  }
  return fcntl;
}

function pipeMax(): number {
  try {
    return Number(readFileSync('/proc/sys/fs/pipe-max-size', 'utf8').trim()) || 1 << 20;
  } catch {
    return 1 << 20;
  }
}

/** Sets the pipe behind `stream` to hold about `bytes` (capped); returns the new size, or undefined if unchanged. */
export function growPipe(stream: Readable, bytes: number): number | undefined {
  const fd = (stream as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return undefined;
  const f = loadFcntl();
  if (!f) return undefined;
  const r = f(fd, F_SETPIPE_SZ, Math.min(bytes, pipeMax()));
  return r > 0 ? r : undefined;
}
