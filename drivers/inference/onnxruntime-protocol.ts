/** Messages between OnnxRuntimeBackend and its worker thread (./onnxruntime-worker.ts). */
import type { PackSpec, PixelFormat } from '../../agent/types.js';

export interface TensorMeta {
  name: string;
  type: string;
  shape: number[];
}

export type WorkerRequest =
  | { id: number; op: 'load'; file: string; options: Record<string, unknown> }
  | { id: number; op: 'run'; inputs: Record<string, MovedInput> }
  | { id: number; op: 'packer'; spec: PackSpec }
  | { id: number; op: 'runFrame'; frame: MovedFrame }
  | { id: number; op: 'close' };

/**
 * An input tensor handed to the worker: `buffer` holds exactly its bytes and is transferred (moved, not copied) with
 * the request; `ctor` names the typed array (Float32Array...). onnxruntime-node refuses typed arrays on shared memory,
 * so the bytes must be in a plain ArrayBuffer when the session runs; moving one there leaves the inference thread no
 * copy to make. The worker moves the buffer back with its reply (`inputBuffers`) for the next call.
 */
export interface MovedInput {
  type: string;
  dims: number[];
  buffer: ArrayBuffer;
  ctor: string;
}

/**
 * A frame's 8-bit pixels handed to the worker, which packs them into the model's only input (`name`, `type`, `dims`)
 * with the packer made by the 'packer' request. `buffer` holds exactly the pixels and is moved like MovedInput's.
 */
export interface MovedFrame {
  buffer: ArrayBuffer;
  width: number;
  height: number;
  format: PixelFormat;
  name: string;
  type: string;
  dims: number[];
}

export interface WorkerReply {
  id: number;
  ok: boolean;
  error?: string;
  inputs?: TensorMeta[];
  outputsMeta?: TensorMeta[];
  /** The worker's kernel thread id (load reply), for pinning it to a CPU. */
  tid?: number;
  /** The run's input buffers, moved back for reuse (run reply, also when the run failed). */
  inputBuffers?: ArrayBuffer[];
  outputs?: Record<string, { dims: number[]; data: Float32Array | Uint16Array | BigInt64Array | Uint8Array | Int8Array | Int32Array }>;
}
