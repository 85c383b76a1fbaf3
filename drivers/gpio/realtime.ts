/**
 * Real-time scheduling for the output thread. On a loaded 2-core board a normal (SCHED_OTHER) thread can wait
 * tens of milliseconds for a core, whatever Node does; a SCHED_FIFO thread preempts every normal thread the moment
 * its timer fires. sched_setscheduler(2) with pid 0 applies to the calling thread only (man 2 sched_setscheduler),
 * so only the output worker becomes real-time, not inference. Needs CAP_SYS_NICE or an RLIMIT_RTPRIO of at least
 * the priority (systemd: LimitRTPRIO=20 in the unit). The kernel's RT throttling (sched_rt_runtime_us) still
 * bounds what a runaway RT thread could take.
 */
import { lastErrno, libcFunc } from '../os/libc.js';

/** From include/uapi/linux/sched.h. */
const SCHED_FIFO = 1;

export interface RealtimeResult {
  ok: boolean;
  /** e.g. "SCHED_FIFO 10", or why not ("EPERM: needs CAP_SYS_NICE or LimitRTPRIO>=10"). */
  detail: string;
}

/** Puts the calling thread in SCHED_FIFO at `priority` (1-99). Never throws. */
export function makeThisThreadRealtime(priority: number): RealtimeResult {
  // struct sched_param { int sched_priority; } passed by pointer.
  const setScheduler = libcFunc<(pid: number, policy: number, param: Buffer) => number>('int sched_setscheduler(int pid, int policy, void *param)');
  if (typeof setScheduler === 'string') return { ok: false, detail: `cannot call sched_setscheduler: ${setScheduler}` };
  const param = Buffer.alloc(4);
  param.writeInt32LE(priority, 0);
  if (setScheduler(0, SCHED_FIFO, param) === 0) return { ok: true, detail: `SCHED_FIFO ${priority}` };
  return { ok: false, detail: `${lastErrno()}: needs CAP_SYS_NICE or LimitRTPRIO>=${priority} (systemd unit)` };
}
