/** Messages between OnnxRuntimeBackend and its worker thread (./onnxruntime-worker.ts). */
export interface TensorMeta {
  name: string;
  type: string;
  shape: number[];
}

export type WorkerRequest =
  | { id: number; op: 'load'; file: string; options: Record<string, unknown> }
  | { id: number; op: 'run'; inputs: Record<string, { type: string; dims: number[]; data: ArrayBufferView }> }
  | { id: number; op: 'close' };

export interface WorkerReply {
  id: number;
  ok: boolean;
  error?: string;
  inputs?: TensorMeta[];
  outputsMeta?: TensorMeta[];
  outputs?: Record<string, { dims: number[]; data: Float32Array | Uint16Array | BigInt64Array | Uint8Array | Int8Array | Int32Array }>;
}
