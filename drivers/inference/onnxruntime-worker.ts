/**
 * The ONNX Runtime session in its own thread. onnxruntime-node's `run()` is a synchronous native call made
 * from a setImmediate callback (node_modules/onnxruntime-node/dist/backend.js), so on the main thread it
 * blocks everything else for the length of the inference. Here it blocks only this worker, and the main
 * thread reads, packs, decodes and applies rules to the neighbouring frames meanwhile.
 */
import { readlinkSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import type { MovedInput, WorkerReply, WorkerRequest } from './onnxruntime-protocol.js';

const port = parentPort!;
let ort: typeof import('onnxruntime-node') | undefined;
let session: InferenceSession | undefined;

// One call at a time, in arrival order (the session runs one inference at a time anyway).
let chain: Promise<void> = Promise.resolve();
port.on('message', (m: WorkerRequest) => {
  const inputBuffers = m.op === 'run' ? Object.values(m.inputs).map((t) => t.buffer) : undefined;
  chain = chain.then(() =>
    handle(m).then(
      (r) => post({ ...r, inputBuffers }),
      (err: unknown) => post({ id: m.id, ok: false, error: err instanceof Error ? err.message : String(err), inputBuffers }),
    ),
  );
});

type Typed = Float32Array | Uint8Array | Int8Array | Int32Array | Uint16Array | BigInt64Array;
const ctors: Record<string, new (b: ArrayBuffer) => Typed> = { Float32Array, Uint8Array, Int8Array, Int32Array, Uint16Array, BigInt64Array };

/** The moved input bytes as the typed array they were sent as (no copy). */
function view(name: string, t: MovedInput): Typed {
  const Ctor = ctors[t.ctor];
  if (!Ctor) throw new Error(`input "${name}": unsupported typed array ${t.ctor}`);
  return new Ctor(t.buffer);
}

/** This thread's kernel thread id ("PID/task/TID" from /proc/thread-self), for pinning it to a CPU. */
function threadId(): number | undefined {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : undefined;
  } catch {
    return undefined;
  }
}

function post(r: WorkerReply): void {
  const transfer = r.ok && r.outputs ? Object.values(r.outputs).map((o) => o.data.buffer as ArrayBuffer) : [];
  // An input buffer the session still held would be detached under it; by now the run has finished.
  for (const b of r.inputBuffers ?? []) if (b.byteLength > 0 && !transfer.includes(b)) transfer.push(b);
  port.postMessage(r, transfer);
}

async function handle(m: WorkerRequest): Promise<WorkerReply> {
  switch (m.op) {
    case 'load': {
      ort ??= await import('onnxruntime-node');
      session = await ort.InferenceSession.create(m.file, m.options as InferenceSession.SessionOptions);
      const meta = (list: readonly InferenceSession.ValueMetadata[]) => list.map((v) => (v.isTensor ? { name: v.name, type: v.type as string, shape: v.shape.map((d) => (typeof d === 'number' ? d : -1)) } : { name: v.name, type: 'float32', shape: [] }));
      return { id: m.id, ok: true, inputs: meta(session.inputMetadata), outputs: undefined, outputsMeta: meta(session.outputMetadata), tid: threadId() };
    }
    case 'run': {
      if (!session || !ort) throw new Error('no session loaded');
      const feeds: Record<string, Tensor> = {};
      for (const [name, t] of Object.entries(m.inputs)) feeds[name] = new ort.Tensor(t.type as 'float32', view(name, t) as Float32Array, t.dims);
      const res = session.run(feeds);
      const results = await res;
      const outputs: Record<string, { dims: number[]; data: Float32Array | Uint16Array | BigInt64Array | Uint8Array | Int8Array | Int32Array }> = {};
      for (const [name, v] of Object.entries(results)) {
        const tensor = v as Tensor;
        const data = tensor.data as Float32Array;
        // The tensor may view a larger buffer: copy out exactly its elements so the buffer can be transferred.
        outputs[name] = { dims: tensor.dims.map(Number), data: data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : data.slice() };
      }
      return { id: m.id, ok: true, outputs };
    }
    case 'close': {
      await session?.release();
      session = undefined;
      return { id: m.id, ok: true };
    }
  }
}
