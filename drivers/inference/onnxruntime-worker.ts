/**
 * The ONNX Runtime session in its own thread. onnxruntime-node's `run()` is a synchronous native call made
 * from a setImmediate callback (node_modules/onnxruntime-node/dist/backend.js), so on the main thread it
 * blocks everything else for the length of the inference. Here it blocks only this worker, and the main
 * thread reads, packs, decodes and applies rules to the neighbouring frames meanwhile.
 */
import { readlinkSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { TensorPacker } from '../../agent/core/tensor.js';
import type { MovedInput, WorkerReply, WorkerRequest } from './onnxruntime-protocol.js';

const port = parentPort!;
let ort: typeof import('onnxruntime-node') | undefined;
let session: InferenceSession | undefined;
/**
 * Packs the frames of runFrame requests, here where the model reads them: the frame loop hands over the 8-bit pixels
 * (a quarter of a float32 tensor's bytes) and the tensor is written in this thread's cache, just before the session
 * reads it. One output buffer is enough: calls run one at a time and the session is done with it when run() returns.
 */
let packer: TensorPacker | undefined;

// One call at a time, in arrival order (the session runs one inference at a time anyway).
let chain: Promise<void> = Promise.resolve();
port.on('message', (m: WorkerRequest) => {
  const inputBuffers = m.op === 'run' ? Object.values(m.inputs).map((t) => t.buffer) : m.op === 'runFrame' ? [m.frame.buffer] : undefined;
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
      return { id: m.id, ok: true, outputs: await runSession(session, feeds) };
    }
    case 'packer': {
      packer = new TensorPacker(m.spec.input, { quant: m.spec.quant, buffers: 1 });
      return { id: m.id, ok: true };
    }
    case 'runFrame': {
      if (!session || !ort) throw new Error('no session loaded');
      if (!packer) throw new Error('runFrame before packer');
      const f = m.frame;
      const data = packer.pack({ data: new Uint8Array(f.buffer), width: f.width, height: f.height, format: f.format });
      return { id: m.id, ok: true, outputs: await runSession(session, { [f.name]: new ort.Tensor(f.type as 'float32', data as Float32Array, f.dims) }) };
    }
    case 'close': {
      await session?.release();
      session = undefined;
      packer = undefined;
      return { id: m.id, ok: true };
    }
  }
}

async function runSession(session: InferenceSession, feeds: Record<string, Tensor>): Promise<NonNullable<WorkerReply['outputs']>> {
  const results = await session.run(feeds);
  const outputs: Record<string, { dims: number[]; data: Float32Array | Uint16Array | BigInt64Array | Uint8Array | Int8Array | Int32Array }> = {};
  for (const [name, v] of Object.entries(results)) {
    const tensor = v as Tensor;
    const data = tensor.data as Float32Array;
    // The tensor may view a larger buffer: copy out exactly its elements so the buffer can be transferred.
    outputs[name] = { dims: tensor.dims.map(Number), data: data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : data.slice() };
  }
  return outputs;
}
