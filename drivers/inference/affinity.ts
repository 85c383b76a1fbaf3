import { readFileSync } from 'node:fs';
import koffi from 'koffi';

/**
 * CPU affinity of one thread, for pinning the inference worker (model.pinInferenceThread).
 *
 * sched_setaffinity(2): `int sched_setaffinity(pid_t pid, size_t cpusetsize, const cpu_set_t *mask)`, where pid is
 * a thread id (0: the caller) and cpu_set_t is a bit array of unsigned longs, CPU n at bit n % 64 of word n / 64
 * (glibc sys/cpuset.h __CPUELT/__CPUMASK). On a little-endian CPU that is bit n % 8 of byte n / 8, which is how the
 * mask is built here (128 bytes: CPUs 0-1023, glibc's CPU_SETSIZE).
 */
type SetAffinity = (tid: number, size: number, mask: Uint8Array) => number;
let setAffinity: SetAffinity | null | undefined;

function loadSetAffinity(): SetAffinity | null {
  if (setAffinity !== undefined) return setAffinity;
  setAffinity = null;
  for (const name of ['libc.so.6', 'libc.so']) {
    try {
      setAffinity = koffi.load(name).func('int sched_setaffinity(int pid, size_t size, const uint8_t *mask)') as SetAffinity;
      break;
    } catch {
      // the next name; without it nothing is pinned (and the caller says so)
    }
  }
  return setAffinity;
}

const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/** "0-3,5,7-8" (the kernel's cpu list format, e.g. /proc/self/status Cpus_allowed_list) -> [0,1,2,3,5,7,8]. */
export function parseCpuList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.trim().split(',')) {
    if (!part) continue;
    const [a, b] = part.split('-').map(Number);
    if (!Number.isInteger(a) || (b !== undefined && !Number.isInteger(b))) return [];
    for (let c = a!; c <= (b ?? a!); c++) out.push(c);
  }
  return out;
}

/** The CPUs this process may run on (cgroups cpusets and systemd CPUAffinity= included), from /proc/self/status. */
export function allowedCpus(status?: string): number[] {
  try {
    const text = status ?? readFileSync('/proc/self/status', 'utf8');
    const line = /^Cpus_allowed_list:\s*(.+)$/m.exec(text);
    return line ? parseCpuList(line[1]!) : [];
  } catch {
    return [];
  }
}

/** The CPUs one thread may run on, from /proc/self/task/TID/status. */
export function threadCpus(tid: number): number[] {
  try {
    return allowedCpus(readFileSync(`/proc/self/task/${tid}/status`, 'utf8'));
  } catch {
    return [];
  }
}

/** Pins the thread `tid` of this process to `cpu`. Returns the reason when it cannot (no libc, not allowed). */
export function pinThread(tid: number, cpu: number): string | undefined {
  if (!LITTLE_ENDIAN) return 'big-endian CPU (mask layout not implemented)';
  const f = loadSetAffinity();
  if (!f) return 'sched_setaffinity not reachable through koffi';
  const mask = new Uint8Array(128);
  if (cpu < 0 || cpu >= mask.length * 8) return `CPU ${cpu} out of range`;
  mask[cpu >> 3] = 1 << (cpu & 7);
  return f(tid, mask.length, mask) === 0 ? undefined : `sched_setaffinity(${tid}, CPU ${cpu}) failed`;
}
