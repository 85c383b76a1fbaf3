import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU of this process's waited-for children, ms (cutime + cstime of /proc/self/stat, fields 16 and 17, in clock
 * ticks; a child's own waited-for children are in its figure). A child counts once it has exited and been reaped.
 */
export function childrenCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After "pid (comm) ", field 3 (state) is index 0, so field N is index N - 3.
  const ticks = Number(f[16 - 3]) + Number(f[17 - 3]);
  return (ticks * 1000) / clockTicks();
}

let hz: number | undefined;
function clockTicks(): number {
  hz ??= Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
  return hz;
}

/** CPU of this process (all its threads: main, workers, ONNX Runtime's), ms. */
export function selfCpuMs(): number {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
}

/**
 * CPU of each thread of this process, ms, by kernel thread id (utime + stime of /proc/self/task/TID/stat); the main
 * thread's id is the process id. Threads that have exited are not listed.
 */
export function threadsCpuMs(): Map<number, number> {
  const out = new Map<number, number>();
  for (const t of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(t), ((Number(f[14 - 3]) + Number(f[15 - 3])) * 1000) / clockTicks());
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out;
}

/** CPU of this process's main thread (the frame loop's), ms. */
export function mainThreadCpuMs(): number {
  return threadsCpuMs().get(process.pid) ?? 0;
}
