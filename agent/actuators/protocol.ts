/** Messages between the main thread (./output-bank.ts) and the output worker (./worker.ts). */
import { AgentError, type ErrorCode } from '../errors.js';
import type { OutputConfig } from '../config/sections/outputs.js';

export interface WorkerInit {
  outputs: Record<string, OutputConfig>;
  simulateJournal?: string;
  stallMs?: number;
  devRoot?: string;
  sysRoot?: string;
  hasPublish: boolean;
  ledgerDir?: string;
  /** SCHED_FIFO priority for the output thread; 0 leaves it a normal thread. */
  realtimePriority: number;
  log: { level: string; pretty: boolean };
  /** hrtime minus performance.now() on the main thread, ms: converts main-thread monotonic times to the worker's. */
  mainOffsetMs: number;
  /** Int32Array view: [0] heartbeat counter, [1] safe-all acknowledgement. */
  shared: SharedArrayBuffer;
}

export const Shared = { beat: 0, safeAck: 1 } as const;

export type ToWorker =
  | { op: 'start'; id: number }
  | { op: 'stop'; id: number }
  | { op: 'pulse'; id: number; name: string; dueMono: number; widthMs: number; reason: string; mediaMs?: number }
  | { op: 'hold'; id: number; name: string; durationMs: number; reason: string }
  | { op: 'off'; id: number; name: string; reason: string }
  | { op: 'status'; id: number }
  | { op: 'safe-all'; reason: string }
  | { op: 'published'; id: number; error?: string };

export type FromWorker =
  | { op: 'reply'; id: number; value?: unknown; error?: SerializedError }
  | { op: 'report'; report: import('./channel.js').ActuationReport }
  | { op: 'publish'; id: number; topic: string; payload: string; qos: 0 | 1 | 2; retain: boolean };

export interface SerializedError {
  agent: boolean;
  code?: ErrorCode;
  message: string;
  fix?: string;
  exitCode?: number;
  stack?: string;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof AgentError) return { agent: true, code: err.code, message: err.message, fix: err.fix, exitCode: err.exitCode };
  if (err instanceof Error) return { agent: false, message: err.message, stack: err.stack };
  return { agent: false, message: String(err) };
}

export function deserializeError(e: SerializedError): Error {
  if (e.agent && e.code) return new AgentError(e.code, e.message, { fix: e.fix, exitCode: e.exitCode });
  const err = new Error(e.message);
  if (e.stack) err.stack = e.stack;
  return err;
}

/** hrtime (process-wide CLOCK_MONOTONIC) minus this thread's performance.now(), in ms. */
export function monoOffsetMs(): number {
  return Number(process.hrtime.bigint()) / 1e6 - performance.now();
}
