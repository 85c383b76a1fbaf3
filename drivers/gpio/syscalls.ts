/**
 * The only part of the gpiochip driver that talks to the kernel: open, ioctl, close. Everything above it works on
 * Buffers laid out by ./uapi.ts, so tests replace this object with a fake kernel and nothing else.
 *
 * ioctl(2) is called through koffi (prebuilt FFI, no compiler needed on the board). The koffi import is lazy: a
 * board without it (or a libc koffi cannot load) disables only the gpiochip driver, with the reason.
 */
import { closeSync, constants, openSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { createRequire } from 'node:module';

export interface GpioSyscalls {
  /** open(2) read-write; throws an Error with `.code` (EACCES, ENOENT...) like node:fs does. */
  open(path: string): number;
  /** ioctl(2) with a pointer argument; throws an Error with `.code` (ENOTTY, EBUSY, EINVAL...) on -1. */
  ioctl(fd: number, request: number, arg: Buffer): void;
  close(fd: number): void;
}

const errnoNames = new Map<number, string>(Object.entries(osConstants.errno).map(([name, no]) => [no, name]));

export function errnoError(op: string, errno: number): NodeJS.ErrnoException {
  const code = errnoNames.get(errno) ?? `E${errno}`;
  const err = new Error(`${op} failed: ${code}`) as NodeJS.ErrnoException;
  err.code = code;
  err.errno = errno;
  return err;
}

type IoctlFn = (fd: number, request: number, type: string, arg: Buffer) => number;

let cached: { syscalls?: GpioSyscalls; error?: string } | undefined;

/** The real syscalls, or a reason why they are unavailable (koffi missing, libc not found). */
export function loadKernelSyscalls(): { syscalls?: GpioSyscalls; error?: string } {
  if (cached) return cached;
  try {
    const require = createRequire(import.meta.url);
    // koffi is CommonJS; require keeps this synchronous so the crash path (safeSync) never awaits.
    const koffi = require('koffi') as {
      load(name: string): { func(decl: string): unknown };
      errno(): number;
    };
    const libc = koffi.load('libc.so.6');
    // int ioctl(int fd, unsigned long request, ...): variadic, the third argument passed as a pointer.
    const ioctl = libc.func('int ioctl(int fd, unsigned long request, ...)') as IoctlFn;
    const syscalls: GpioSyscalls = {
      open: (path) => openSync(path, constants.O_RDWR),
      ioctl: (fd, request, arg) => {
        const rc = ioctl(fd, request, 'void *', arg);
        if (rc === -1) throw errnoError(`ioctl 0x${request.toString(16)}`, koffi.errno());
      },
      close: (fd) => closeSync(fd),
    };
    cached = { syscalls };
  } catch (err) {
    cached = { error: `cannot load koffi/libc for GPIO ioctls: ${err instanceof Error ? err.message : String(err)}` };
  }
  return cached;
}
