import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';

/**
 * libc functions through koffi (prebuilt FFI, no compiler on the board), for the few syscalls Node does not expose
 * (pipe2/fcntl for the frame pipe, sched_setaffinity, sched_setscheduler). koffi is loaded on first use, not at
 * import: a board where it cannot load loses only the feature that needs it, with the reason, never the agent.
 */
interface Koffi {
  load(name: string): { func(decl: string): unknown };
  errno(): number;
}

let lib: { koffi: Koffi; libc: { func(decl: string): unknown } } | string | undefined;

function open(): { koffi: Koffi; libc: { func(decl: string): unknown } } | string {
  if (lib !== undefined) return lib;
  let koffi: Koffi;
  try {
    koffi = createRequire(import.meta.url)('koffi') as Koffi;
  } catch (err) {
    return (lib = `koffi cannot load here (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`);
  }
  for (const name of ['libc.so.6', 'libc.so']) {
    try {
      return (lib = { koffi, libc: koffi.load(name) });
    } catch {
      // the next name
    }
  }
  return (lib = 'libc not found through koffi');
}

/** A libc function by its C declaration (koffi syntax), or the reason it is not reachable. */
export function libcFunc<F>(decl: string): F | string {
  const l = open();
  if (typeof l === 'string') return l;
  try {
    return l.libc.func(decl) as F;
  } catch (err) {
    return `${decl}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
  }
}

/** errno of the last libc call made through koffi, by name ("EINVAL"). */
export function lastErrno(): string {
  const l = open();
  if (typeof l === 'string') return 'errno unknown';
  const no = l.koffi.errno();
  return Object.entries(osConstants.errno).find(([, v]) => v === no)?.[0] ?? `errno ${no}`;
}
