/** Messages between OnnxRuntimeBackend and its worker thread (./onnxruntime-worker.ts). */
export interface TensorMeta {
  name: string;
  type: string;
  shape: number[];
}

export type WorkerRequest =
  | { id: number; op: 'load'; file: string; options: Record<string, unknown> }
  | { id: number; op: 'run'; inputs: Record<string, SharedInput> }
  | { id: number; op: 'close' };

/**
 * An input tensor handed to the worker in shared memory: the bytes are in `shared` (a SharedArrayBuffer from the
 * caller's pool, free again once the reply arrives), `ctor` names the typed array (Float32Array...). No per-frame
 * structured-clone copy and no per-frame allocation in the worker (onnxruntime-node itself rejects typed arrays
 * on shared memory, so the worker copies the bytes into a tensor buffer it keeps).
 */
export interface SharedInput {
  type: string;
  dims: number[];
  /** Holds the tensor's bytes at `offset` (default 0), `length` bytes (default: the whole buffer). */
  shared: SharedArrayBuffer;
  offset?: number;
  length?: number;
  ctor: string;
}

export interface WorkerReply {
  id: number;
  ok: boolean;
  error?: string;
  inputs?: TensorMeta[];
  outputsMeta?: TensorMeta[];
  /** The worker's kernel thread id (load reply), for pinning it to a CPU. */
  tid?: number;
  outputs?: Record<string, { dims: number[]; data: Float32Array | Uint16Array | BigInt64Array | Uint8Array | Int8Array | Int32Array }>;
}
