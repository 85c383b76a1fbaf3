import { createHash } from 'node:crypto';
import { fsyncDir, writeSynced } from '../durable-file.js';
import { mkdirSync, readFileSync, renameSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AgentError } from '../errors.js';
import type { HardwareProfile } from './hardware.js';
import type { AgreementSpec } from '../model/manifest-schema.js';

/**
 * On-device benchmark results, keyed by hardware fingerprint and model file sha256, so a measured latency is
 * reused only on the same hardware and the same bytes. A JSON file in the state dir, written atomically
 * (temp file, fsync, rename) so a power cut leaves the old or the new file, never half of one.
 */
export interface BenchEntry {
  variant: string;
  /** Median latency of one inference, ms. */
  medianMs: number;
  p99Ms?: number;
  runs: number;
  /** ISO time of the measurement. */
  measuredAt: string;
  /** Accelerator that really ran it. */
  accelerator?: string;
  /** Human description of the hardware the fingerprint stands for. */
  hardware?: string;
}

/** Agreement of a variant with its reference measured on this device (agent/select/agreement.ts). */
export interface AgreementEntry extends AgreementSpec {
  variant: string;
  /** sha256 of the reference file it was compared with: a replaced reference invalidates the figure. */
  referenceSha256: string;
  measuredAt: string;
}

export interface BenchCache {
  schema: 1;
  /** fingerprint -> model sha256 -> entry */
  entries: Record<string, Record<string, BenchEntry>>;
  /** fingerprint -> model sha256 -> measured agreement with the reference (absent in caches written before). */
  agreements?: Record<string, Record<string, AgreementEntry>>;
}

export const BENCH_CACHE_FILE = 'bench-cache.json';

export function benchCachePath(stateDir: string): string {
  return join(stateDir, BENCH_CACHE_FILE);
}

export function emptyBenchCache(): BenchCache {
  return { schema: 1, entries: {} };
}

/**
 * Stable hash of what decides inference speed: board model, CPU model and core count, and each accelerator
 * (kind, bus, USB link speed). Temperatures, memory use and the Coral's USB id (which changes when its
 * firmware loads) are left out on purpose.
 */
export function hardwareFingerprint(profile: HardwareProfile): string {
  const accs = profile.accelerators
    .map((a) => [a.kind, a.bus ?? '-', a.usbSpeedMbps ?? '-'].join(':'))
    .sort()
    .join(',');
  const key = [profile.board.model, profile.cpu.arch, profile.cpu.modelName, profile.cpu.cores, accs].join('|');
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

/** Reads the cache; a missing file is an empty cache, a corrupt one is reported and treated as empty. */
export function readBenchCache(file: string, onProblem?: (msg: string) => void): BenchCache {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') onProblem?.(`cannot read bench cache ${file}: ${(err as Error).message}`);
    return emptyBenchCache();
  }
  try {
    const v = JSON.parse(text) as Partial<BenchCache>;
    if (v.schema !== 1 || typeof v.entries !== 'object' || v.entries === null) throw new Error('not a schema-1 bench cache');
    const agreements = typeof v.agreements === 'object' && v.agreements !== null ? { agreements: v.agreements } : {};
    return { schema: 1, entries: v.entries, ...agreements };
  } catch (err) {
    onProblem?.(`bench cache ${file} is unreadable (${(err as Error).message}); ignoring it (re-run \`edge-agent bench\`)`);
    return emptyBenchCache();
  }
}

export function lookupBench(cache: BenchCache, fingerprint: string, sha256: string): BenchEntry | undefined {
  return cache.entries[fingerprint]?.[sha256];
}

/** The agreement measured here for this file against this reference file, if any. */
export function lookupAgreement(cache: BenchCache, fingerprint: string, sha256: string, referenceSha256: string): AgreementEntry | undefined {
  const a = cache.agreements?.[fingerprint]?.[sha256];
  return a && a.referenceSha256 === referenceSha256 ? a : undefined;
}

/** Read-modify-write of one agreement record. */
export function recordAgreement(file: string, fingerprint: string, sha256: string, entry: AgreementEntry): BenchCache {
  const cache = readBenchCache(file);
  const all = cache.agreements ?? {};
  all[fingerprint] = { ...(all[fingerprint] ?? {}), [sha256]: entry };
  cache.agreements = all;
  writeBenchCache(file, cache);
  return cache;
}

/** Writes the whole cache atomically. */
export function writeBenchCache(file: string, cache: BenchCache): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeSynced(tmp, `${JSON.stringify(cache, null, 2)}\n`);
    renameSync(tmp, file);
    fsyncDir(dirname(file));
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // nothing to clean up
    }
    throw new AgentError('OUTPUT_FAILED', `cannot write bench cache ${file}: ${(err as Error).message}`, {
      fix: 'check that the state directory exists and is writable (config stateDir)',
      cause: err,
    });
  }
}

/** Read-modify-write of one entry. */
export function recordBench(file: string, fingerprint: string, sha256: string, entry: BenchEntry): BenchCache {
  const cache = readBenchCache(file);
  cache.entries[fingerprint] = { ...(cache.entries[fingerprint] ?? {}), [sha256]: entry };
  writeBenchCache(file, cache);
  return cache;
}
