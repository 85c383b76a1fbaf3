import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';

/** Writes bytes to a file and fsyncs it before returning (the first half of an atomic replace). */
export function writeSynced(file: string, bytes: Uint8Array | string, mode = 0o644): void {
  const data = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
  const fd = openSync(file, 'w', mode);
  try {
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Makes a rename inside `dir` durable. Some filesystems refuse fsync on a directory; the rename is still atomic. */
export function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* see above */
  }
}
