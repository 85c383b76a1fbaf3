import { PACK_WASM } from './pack-wasm.js';

interface PackExports {
  interleaved3(src: number, dst: number, px: number, m0: number, m1: number, m2: number, s0: number, s1: number, s2: number): void;
  plane(src: number, dst: number, n: number, m: number, s: number): void;
}

let compiled: WebAssembly.Module | null | undefined;

/** The compiled kernel module, or null where WebAssembly SIMD is not available (then the packer stays in JS). */
function kernelModule(): WebAssembly.Module | null {
  if (compiled === undefined) {
    const bytes = Buffer.from(PACK_WASM, 'base64');
    compiled = WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  }
  return compiled;
}

/**
 * 8-bit frames (interleaved RGB/BGR, or gbrp planes) -> planar float32 (NCHW) with (p - mean) / std per channel, 16
 * pixels per WebAssembly SIMD step (pack.wat): ~0.15 ms for a 320x240 frame, copy included, against ~0.5 ms for the
 * JS loop here. The frame is copied into the module's memory (a memcpy), and the output tensors are views of that
 * memory, laid out once and never grown (a grown memory would detach them).
 */
export class SimdPlanes {
  readonly outputs: Float32Array[];
  private readonly src: Uint8Array;
  private readonly kernel: PackExports;

  private constructor(
    mem: WebAssembly.Memory,
    instance: WebAssembly.Instance,
    private readonly pixels: number,
    buffers: number,
  ) {
    const buf = mem.buffer;
    this.src = new Uint8Array(buf, 0, pixels * 3);
    const first = align64(pixels * 3);
    const size = align64(pixels * 3 * 4);
    this.outputs = Array.from({ length: buffers }, (_, i) => new Float32Array(buf, first + i * size, pixels * 3));
    this.kernel = instance.exports as unknown as PackExports;
  }

  /**
   * Lays out the memory for `buffers` output tensors; undefined when WebAssembly SIMD is not available here, and the
   * packer then stays in JS.
   */
  static create(pixels: number, buffers: number): SimdPlanes | undefined {
    if (process.env.EDGE_AGENT_NO_SIMD === '1') return undefined;
    try {
      const mod = kernelModule();
      if (!mod) return undefined;
      const bytes = align64(pixels * 3) + buffers * align64(pixels * 3 * 4);
      const pages = Math.ceil(bytes / 65536);
      const mem = new WebAssembly.Memory({ initial: pages, maximum: pages });
      return new SimdPlanes(mem, new WebAssembly.Instance(mod, { env: { mem } }), pixels, buffers);
    } catch {
      return undefined;
    }
  }

  /**
   * Packs the frame into output `k`. The last (pixels % 16) pixels are left to the caller, who computes them with
   * the same float32 arithmetic (`simdValue`), so a frame is packed the same whatever its size.
   */
  pack(data: Uint8Array, k: number, mean: readonly number[], std: readonly number[]): Float32Array {
    this.src.set(data.subarray(0, this.pixels * 3));
    const out = this.outputs[k]!;
    this.kernel.interleaved3(0, out.byteOffset, this.pixels, mean[0]!, mean[1]!, mean[2]!, std[0]!, std[1]!, std[2]!);
    return out;
  }

  /**
   * Packs a planar frame (three planes of `pixels` bytes) into output `k`: output plane c comes from frame plane
   * `planes[c]`. The caller finishes the last (pixels % 16) values of each plane, as for pack().
   */
  packPlanar(data: Uint8Array, k: number, planes: readonly number[], mean: readonly number[], std: readonly number[]): Float32Array {
    const n = this.pixels;
    this.src.set(data.subarray(0, n * 3));
    const out = this.outputs[k]!;
    for (let c = 0; c < 3; c++) this.kernel.plane(planes[c]! * n, out.byteOffset + c * n * 4, n, mean[c]!, std[c]!);
    return out;
  }

  /** Pixels the kernel leaves to the caller (from this index on). */
  get tailStart(): number {
    return this.pixels & ~15;
  }
}

/** (p - mean) / std in float32 arithmetic, as the kernel computes it (f32x4.sub then f32x4.div). */
export function simdValue(p: number, mean: number, std: number): number {
  return Math.fround(Math.fround(p - Math.fround(mean)) / Math.fround(std));
}

function align64(n: number): number {
  return Math.ceil(n / 64) * 64;
}
