export * from './hardware.js';
export { selectVariant, runnable, walkCandidates, type SelectInput, type SelectionConfig, type SelectionResult, type VariantVerdict } from './select.js';
export { verifyWalk, type WalkCandidate, type VerifyOutcome, type WalkResult, type WalkAttempt, type Degraded, type WalkOptions } from './verify-walk.js';
export {
  BENCH_CACHE_FILE, benchCachePath, emptyBenchCache, hardwareFingerprint, readBenchCache, lookupBench, writeBenchCache, recordBench,
  type BenchCache, type BenchEntry,
} from './bench-cache.js';
export { deviceClassFor, estimateLatency, classSpeeds, type LatencyEstimate } from './device-class.js';
