/**
 * Which weight width suits the CPU's int8 instructions (ONNX Runtime's MLAS kernels pick their path from the same
 * CPUID / HWCAP bits that /proc/cpuinfo lists as flags):
 * - x86-64 with AVX-512 VNNI (`avx512_vnni`) or AVX-VNNI (`avx_vnni`): VPDPBUSD multiplies u8 x s8 and adds into
 *   int32 directly, so full 8-bit weights are safe (Intel SDM, "VPDPBUSD"; MLAS QGEMM AVX512VNNI/AVXVNNI kernels).
 * - x86-64 with AVX2 only: VPMADDUBSW adds pairs of u8 x s8 products into a saturating int16; with 8-bit weights two
 *   large products overflow it, so 7-bit weights (|w| <= 63) are used (the reason onnxruntime's quantiser has
 *   reduce_range; Intel SDM, "PMADDUBSW").
 * - ARM64 with the dot-product extension (`asimddp`: SDOT/UDOT, Armv8.2-A): int32 accumulation, 8-bit weights.
 * - ARM64 without it: MLAS widens to 16 bits and accumulates in 32 (UMULL/SADALP), no saturation: 8-bit weights.
 */
export interface Int8Choice {
  weightBits: 7 | 8;
  /** The instruction the choice rests on, e.g. "AVX-512 VNNI (VPDPBUSD)". */
  instructions: string;
  why: string;
}

export function int8ChoiceFor(arch: string, features: readonly string[]): Int8Choice {
  const has = (f: string): boolean => features.includes(f);
  if (arch === 'x86_64' || arch === 'x64') {
    if (has('avx512_vnni')) return { weightBits: 8, instructions: 'AVX-512 VNNI (VPDPBUSD)', why: 'u8 x s8 products accumulate in int32: 8-bit weights' };
    if (has('avx_vnni')) return { weightBits: 8, instructions: 'AVX-VNNI (VPDPBUSD)', why: 'u8 x s8 products accumulate in int32: 8-bit weights' };
    if (has('avx2')) return { weightBits: 7, instructions: 'AVX2 without VNNI (VPMADDUBSW)', why: 'pairs of u8 x s8 products saturate int16: 7-bit weights' };
    return { weightBits: 7, instructions: 'SSE only', why: 'no AVX2: int8 is unlikely to beat float here; 7-bit weights as for AVX2' };
  }
  if (arch === 'aarch64' || arch === 'arm64') {
    if (has('asimddp')) return { weightBits: 8, instructions: 'ARMv8.2 dot product (SDOT/UDOT)', why: 'int32 accumulation: 8-bit weights' };
    return { weightBits: 8, instructions: 'NEON without dot product', why: 'widening 16-bit multiply, 32-bit accumulate: 8-bit weights' };
  }
  return { weightBits: 8, instructions: `unknown (${arch})`, why: '8-bit weights' };
}
