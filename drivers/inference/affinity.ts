import { readFileSync } from 'node:fs';
import { lastErrno, libcFunc } from '../os/libc.js';

/**
 * CPU affinity of one thread, for pinning the inference worker (model.pinInferenceThread).
 *
 * sched_setaffinity(2): `int sched_setaffinity(pid_t pid, size_t cpusetsize, const cpu_set_t *mask)`, where pid is
 * a thread id (0: the caller) and cpu_set_t is a bit array of unsigned longs, CPU n at bit n % 64 of word n / 64
 * (glibc sys/cpuset.h __CPUELT/__CPUMASK). On a little-endian CPU that is bit n % 8 of byte n / 8, which is how the
 * mask is built here (128 bytes: CPUs 0-1023, glibc's CPU_SETSIZE). libc is reached only when a thread is pinned
 * (../os/libc.ts), so a board where koffi cannot load runs unpinned, with the reason logged.
 */
type SetAffinity = (tid: number, size: number, mask: Uint8Array) => number;
let setAffinity: SetAffinity | string | undefined;

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

/**
 * The CPUs this process may run on and that are online: /proc/self/status Cpus_allowed_list (cgroup cpusets and
 * systemd CPUAffinity= included) lists offline CPUs too (a Jetson's power modes take cores offline), so it is
 * intersected with /sys/devices/system/cpu/online; sched_setaffinity refuses a mask of offline CPUs (EINVAL).
 */
export function allowedCpus(status?: string, online?: string): number[] {
  // /proc/self/status is the main thread's: while it is kept off an inference CPU, the process's own list is the one saved.
  if (processCpus && status === undefined && online === undefined) return [...processCpus];
  try {
    const text = status ?? readFileSync('/proc/self/status', 'utf8');
    const line = /^Cpus_allowed_list:\s*(.+)$/m.exec(text);
    const allowed = line ? parseCpuList(line[1]!) : [];
    let up: number[] | undefined;
    try {
      up = parseCpuList(online ?? readFileSync('/sys/devices/system/cpu/online', 'utf8'));
    } catch {
      up = undefined; // no sysfs: take the allowed list as it is
    }
    return up?.length ? allowed.filter((c) => up!.includes(c)) : allowed;
  } catch {
    return [];
  }
}

/** The CPUs one thread may run on, from /proc/self/task/TID/status. */
export function threadCpus(tid: number): number[] {
  try {
    const line = /^Cpus_allowed_list:\s*(.+)$/m.exec(readFileSync(`/proc/self/task/${tid}/status`, 'utf8'));
    return line ? parseCpuList(line[1]!) : [];
  } catch {
    return [];
  }
}

/** Pins the thread `tid` of this process to `cpu`. Returns the reason when it cannot (no koffi/libc, not allowed). */
export function pinThread(tid: number, cpu: number): string | undefined {
  return setThreadCpus(tid, [cpu]);
}

/**
 * Lets the thread `tid` run on exactly `cpus` (pinThread for one CPU; the list it had before undoes a pin). A process id
 * names its main thread only: the other threads keep their masks. Threads and processes it starts afterwards take
 * its mask. Returns the reason when it cannot.
 */
export function setThreadCpus(tid: number, cpus: readonly number[]): string | undefined {
  if (!LITTLE_ENDIAN) return 'big-endian CPU (mask layout not implemented)';
  setAffinity ??= libcFunc<SetAffinity>('int sched_setaffinity(int pid, size_t size, const uint8_t *mask)');
  if (typeof setAffinity === 'string') return setAffinity;
  const mask = new Uint8Array(128);
  for (const cpu of cpus) {
    if (!Number.isInteger(cpu) || cpu < 0 || cpu >= mask.length * 8) return `CPU ${cpu} out of range`;
    mask[cpu >> 3]! |= 1 << (cpu & 7);
  }
  return setAffinity(tid, mask.length, mask) === 0 ? undefined : `sched_setaffinity(${tid}, CPU ${cpus.join(',')}) failed: ${lastErrno()}`;
}

/** The process's CPUs as they were before its main thread was kept off any (keepMainThreadOff); undefined when it is not. */
let processCpus: number[] | undefined;
/** The CPU each holder keeps the main thread off. */
const heldOff = new Map<object, number>();

/**
 * Keeps the process's main thread (the frame loop's) off `cpu` while `holder` holds it (./main-thread-guard.ts says
 * when and why). Threads and processes the main thread starts afterwards inherit its mask: the decoders it spawns get
 * the process's CPUs back (runOnProcessCpus). Returns the reason when it cannot (then nothing changed).
 */
export function keepMainThreadOff(holder: object, cpu: number): string | undefined {
  const all = processCpus ?? allowedCpus();
  const off = new Set([...heldOff.values(), cpu]);
  const rest = all.filter((c) => !off.has(c));
  if (!rest.length) return `no CPU would be left for the main thread (the process may use ${all.join(',') || 'none known'})`;
  const why = setThreadCpus(process.pid, rest);
  if (why) return why;
  processCpus = all;
  heldOff.set(holder, cpu);
  return undefined;
}

/** Undoes keepMainThreadOff for `holder`: the main thread gets back every CPU no other holder keeps it off. */
export function releaseMainThread(holder: object): void {
  if (!heldOff.delete(holder) || !processCpus) return;
  const off = new Set(heldOff.values());
  const rest = processCpus.filter((c) => !off.has(c));
  setThreadCpus(process.pid, rest);
  if (!heldOff.size) processCpus = undefined;
}

/**
 * A child process started while the main thread is kept off an inference CPU inherits that mask; a decoder should
 * run on every CPU the agent may use (with several cameras, decoding is most of the work). Called right after the
 * spawn, before the child has started threads of its own (the exec and the dynamic linking come first).
 */
export function runOnProcessCpus(pid: number | undefined): string | undefined {
  if (!processCpus || pid === undefined) return undefined;
  return setThreadCpus(pid, processCpus);
}
