import { describe, expect, it } from 'vitest';
import { modelConfigSchema } from '../../agent/config/sections/model.js';
import { decoderThreads, packInInferenceThread, resolveInferenceThread, resolvePinning } from '../../agent/model/inference-thread.js';
import { allowedCpus, parseCpuList, pinThread, setThreadCpus, threadCpus } from '../../drivers/inference/affinity.js';

describe('model.inferenceThread', () => {
  it('auto runs inference in the main thread on 1-2 CPUs and in a worker from 3 CPUs, saying why', () => {
    expect(resolveInferenceThread('auto', 1).thread).toBe('main');
    expect(resolveInferenceThread('auto', 2)).toEqual({ thread: 'main', reason: expect.stringContaining('2 CPUs') });
    expect(resolveInferenceThread('auto', 3).thread).toBe('worker');
    expect(resolveInferenceThread('auto', 4).reason).toContain('4 CPUs');
  });

  it('frames are packed in the inference thread on 1-2 CPUs (total CPU counts), in the frame loop from 3 (it overlaps the model)', () => {
    expect([1, 2, 3, 4, 8].map((n) => packInInferenceThread(n))).toEqual([true, true, false, false, false]);
  });

  it('auto on 2 CPUs: a worker for a file read in full (throughput), the main thread for a camera (latency)', () => {
    expect(resolveInferenceThread('auto', 2, 'file')).toEqual({ thread: 'worker', reason: expect.stringContaining('file read in full') });
    expect(resolveInferenceThread('auto', 2, 'live').thread).toBe('main');
    expect(resolveInferenceThread('auto', 1, 'file').thread).toBe('main');
    expect(resolveInferenceThread('auto', 4, 'live').thread).toBe('worker');
  });

  it('an explicit setting wins over the CPU count', () => {
    expect(resolveInferenceThread('worker', 1).thread).toBe('worker');
    expect(resolveInferenceThread('main', 8).thread).toBe('main');
  });

  it('defaults to auto and refuses other values', () => {
    expect(modelConfigSchema.parse({ manifest: 'm' }).inferenceThread).toBe('auto');
    expect(modelConfigSchema.safeParse({ manifest: 'm', inferenceThread: 'gpu' }).success).toBe(false);
  });

  it('the decoder gets the CPUs left after inference and the loop, at least one', () => {
    expect(decoderThreads(1, 'main', 2)).toBe(1);
    expect(decoderThreads(1, 'worker', 2)).toBe(1);
    expect(decoderThreads(1, 'worker', 4)).toBe(2);
    expect(decoderThreads(1, 'main', 4)).toBe(3); // the loop shares the inference thread's core
    expect(decoderThreads(2, 'worker', 4)).toBe(1);
    expect(decoderThreads(4, 'main', 4)).toBe(1);
    expect(decoderThreads(1, 'worker', 1)).toBe(1);
  });
});

describe('model.pinInferenceThread', () => {
  it('auto pins a lone inference thread in a worker to the last allowed CPU, and says why it does not otherwise', () => {
    expect(resolvePinning('auto', 'worker', 1, [0, 1, 2, 3])).toEqual({ cpu: 3, reason: expect.stringContaining('last allowed CPU') });
    expect(resolvePinning('auto', 'main', 1, [0, 1]).cpu).toBeUndefined();
    expect(resolvePinning('auto', 'worker', 2, [0, 1, 2, 3])).toEqual({ reason: expect.stringContaining('2 intra-op threads') });
    expect(resolvePinning('auto', 'worker', 1, [2]).cpu).toBeUndefined();
    expect(resolvePinning('off', 'worker', 1, [0, 1]).cpu).toBeUndefined();
    expect(resolvePinning(0, 'worker', 1, [0, 1]).cpu).toBe(0);
    expect(resolvePinning(5, 'worker', 1, [0, 2])).toEqual({ reason: 'CPU 5 is not among the online CPUs the agent may use (0,2)' });
  });

  it('reads the allowed CPUs in the kernel list format', () => {
    expect(parseCpuList('0-3,5,7-8\n')).toEqual([0, 1, 2, 3, 5, 7, 8]);
    expect(parseCpuList('x')).toEqual([]);
    expect(allowedCpus('Name:\tnode\nCpus_allowed:\t3\nCpus_allowed_list:\t0-1\n')).toEqual([0, 1]);
    expect(allowedCpus('Name:\tnode\n')).toEqual([]);
    // A CPU that does not exist: the kernel refuses, and the reason names the error (this thread stays as it was).
    expect(pinThread(0, 1000)).toBe('sched_setaffinity(0, CPU 1000) failed: EINVAL');
    expect(pinThread(0, 5000)).toBe('CPU 5000 out of range');
    // Offline CPUs (a Jetson power mode) are left out: sched_setaffinity would refuse them.
    expect(allowedCpus('Cpus_allowed_list:\t0-5\n', '0-3\n')).toEqual([0, 1, 2, 3]);
    expect(modelConfigSchema.parse({ manifest: 'm' }).pinInferenceThread).toBe('auto');
    expect(modelConfigSchema.parse({ manifest: 'm', pinInferenceThread: 2 }).pinInferenceThread).toBe(2);
    expect(modelConfigSchema.safeParse({ manifest: 'm', pinInferenceThread: 'core1' }).success).toBe(false);
  });

  it.skipIf(allowedCpus().length < 2)('a pin is undone by setting the thread back to the allowed CPUs (as the bench does after its pinned runs)', async () => {
    const { Worker } = await import('node:worker_threads');
    // A worker of its own, so that this test's thread is never pinned; it reports its kernel thread id.
    const w = new Worker("const { parentPort } = require('node:worker_threads'); const tid = Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop()); parentPort.postMessage(tid); setInterval(() => {}, 1000);", { eval: true });
    try {
      const tid = await new Promise<number>((r) => w.once('message', r));
      const allowed = allowedCpus();
      expect(pinThread(tid, allowed[0]!)).toBeUndefined();
      expect(threadCpus(tid)).toEqual([allowed[0]]);
      expect(setThreadCpus(tid, allowed)).toBeUndefined();
      expect(threadCpus(tid)).toEqual(allowed);
      expect(setThreadCpus(tid, [allowed[0]!, 5000])).toBe('CPU 5000 out of range');
      expect(threadCpus(tid)).toEqual(allowed);
    } finally {
      await w.terminate();
    }
  });
});
