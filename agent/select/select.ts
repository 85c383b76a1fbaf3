import type { VariantSpec } from '../model/manifest-schema.js';
import { hardwareFingerprint, lookupBench, type BenchCache } from './bench-cache.js';
import { deviceClassFor, estimateLatency } from './device-class.js';
import type { Capabilities, HardwareProfile, Usability } from './hardware.js';
import type { WalkCandidate } from './verify-walk.js';

/** The deployment's trade-off: U = alpha * accuracy(mAP50) - beta * latency_ms, and a hard latency budget. */
export interface SelectionConfig {
  alpha: number;
  beta: number;
  latencyBudgetMs?: number;
}

export interface VariantVerdict {
  name: string;
  runtime: string;
  accelerator: string;
  eligible: boolean;
  /** Utility U, or null when not eligible or the latency is unknown. */
  score: number | null;
  latencyMs: number | null;
  /** Where the latency came from (bench cache, manifest estimate, scaled estimate). */
  latencySource: string | null;
  accuracy: number | null;
  deviceClass: string | null;
  /** Why it was chosen, why it lost, or why it cannot run. */
  reason: string;
}

export interface SelectionResult {
  variants: VariantVerdict[];
  /** Name of the chosen variant, or null when nothing can run. */
  selected: string | null;
  /** Other runnable variants, best first: what the verified-acceleration walk falls back to. */
  fallbacks: string[];
  /** selected + fallbacks. */
  ranking: string[];
  fingerprint: string;
  /** One line: the choice and why, or why there is none. */
  summary: string;
}

export interface SelectInput {
  profile: HardwareProfile;
  capabilities: Capabilities;
  variants: readonly VariantSpec[];
  selection: SelectionConfig;
  benchCache?: BenchCache;
  /** Defaults to hardwareFingerprint(profile). */
  fingerprint?: string;
  /** Variants known not to run for other reasons (file missing, sha256 mismatch): name -> reason. */
  unavailable?: Readonly<Record<string, string>>;
}

/** Whether a runtime + accelerator pair can run here, with the reason when not. */
export function runnable(caps: Capabilities, runtime: string, accelerator: string): Usability {
  if (runtime === 'onnxruntime') {
    if (!caps.onnxruntime.usable) return { usable: false, reason: `needs onnxruntime: ${caps.onnxruntime.reason ?? 'not usable'}` };
    if (accelerator === 'edgetpu') return { usable: false, reason: 'edgetpu variants need the tflite runtime, not onnxruntime' };
  } else if (runtime === 'tflite') {
    if (!caps.tflite.usable) return { usable: false, reason: `needs tflite: ${caps.tflite.reason ?? 'not usable'}` };
    if (accelerator === 'cuda' || accelerator === 'tensorrt') return { usable: false, reason: `${accelerator} variants need onnxruntime, not tflite` };
  } else {
    return { usable: false, reason: `unknown runtime ${runtime}` };
  }
  const acc = caps.accelerators[accelerator as keyof Capabilities['accelerators']];
  if (!acc) return { usable: false, reason: `unknown accelerator ${accelerator}` };
  return acc.usable ? { usable: true } : { usable: false, reason: acc.reason ?? `needs ${accelerator}: not usable` };
}

const fmt = (n: number): string => (Math.round(n * 10) / 10).toFixed(1);

/**
 * Picks the variant to run. Drops variants whose runtime/accelerator cannot run here, that do not fit in the
 * available memory, or whose latency exceeds the budget; scores the rest with U = alpha*mAP50 - beta*latency
 * (latency from the bench cache for this hardware fingerprint and file sha256 when present, else the manifest
 * estimate for this device class or the nearest one, scaled). Every variant gets a reason. Pure.
 */
export function selectVariant(input: SelectInput): SelectionResult {
  const { profile, capabilities, selection } = input;
  const fingerprint = input.fingerprint ?? hardwareFingerprint(profile);
  const { alpha, beta, latencyBudgetMs } = selection;
  const verdicts: VariantVerdict[] = input.variants.map((v) => {
    const base: VariantVerdict = {
      name: v.name, runtime: v.runtime, accelerator: v.accelerator, eligible: false, score: null,
      latencyMs: null, latencySource: null, accuracy: v.accuracy?.mAP50 ?? null, deviceClass: null, reason: '',
    };
    const blocked = input.unavailable?.[v.name];
    if (blocked) return { ...base, reason: blocked };
    const run = runnable(capabilities, v.runtime, v.accelerator);
    if (!run.usable) return { ...base, reason: run.reason ?? 'cannot run here' };
    const avail = profile.memory.availableMB;
    if (v.memoryMB !== undefined && avail !== null && v.memoryMB > avail) {
      return { ...base, reason: `needs ${v.memoryMB} MB of memory, ${avail} MB available` };
    }
    const deviceClass = deviceClassFor(profile, v.accelerator) ?? null;
    const bench = input.benchCache ? lookupBench(input.benchCache, fingerprint, v.sha256) : undefined;
    let latencyMs: number | null = null;
    let latencySource: string | null = null;
    if (bench) {
      latencyMs = bench.medianMs;
      latencySource = `measured here (bench median of ${bench.runs} runs, ${bench.measuredAt.slice(0, 10)})`;
    } else if (deviceClass) {
      const est = estimateLatency(v.latencyMs, deviceClass);
      if (est) {
        latencyMs = est.latencyMs;
        latencySource = est.source;
      }
    }
    const withLatency = { ...base, deviceClass, latencyMs, latencySource };
    if (latencyMs !== null && latencyBudgetMs !== undefined && latencyMs > latencyBudgetMs) {
      return { ...withLatency, reason: `latency ${fmt(latencyMs)} ms (${latencySource}) is over the budget of ${latencyBudgetMs} ms` };
    }
    if (latencyMs === null) {
      const known = Object.keys(v.latencyMs);
      return {
        ...withLatency,
        eligible: true,
        reason: `can run, but no latency for ${deviceClass ?? v.accelerator} (manifest has ${known.length ? known.join(', ') : 'none'}); run \`edge-agent bench\` to measure it`,
      };
    }
    const score = alpha * (base.accuracy ?? 0) - beta * latencyMs;
    return { ...withLatency, eligible: true, score, reason: '' };
  });

  const scored = verdicts.filter((v) => v.eligible && v.score !== null).sort((a, b) => b.score! - a.score!);
  const unscored = verdicts.filter((v) => v.eligible && v.score === null);
  const ranking = [...scored, ...unscored];
  const best = ranking[0];
  for (const v of ranking) {
    const formula = v.score === null ? '' : `U = ${alpha}*${v.accuracy ?? 0} - ${beta}*${fmt(v.latencyMs!)} ms = ${fmt(v.score)}${v.accuracy === null ? ' (no accuracy in the manifest: counted as 0)' : ''}; latency ${v.latencySource}`;
    if (v === best) {
      v.reason = v.score === null ? `chosen: the only runnable variant(s) have no latency figure; ${v.reason}` : `chosen: highest utility, ${formula}`;
    } else if (v.score !== null && best!.score !== null) {
      v.reason = `lower utility ${fmt(v.score)} < ${fmt(best!.score)} (${best!.name}); ${formula}`;
    } else if (v.score !== null) {
      v.reason = `runnable fallback; ${formula}`;
    }
  }
  const selected = best?.name ?? null;
  const summary = best
    ? `${best.name} (${best.runtime}/${best.accelerator})${best.score !== null ? `, utility ${fmt(best.score)}` : ''}`
    : `no variant can run here: ${verdicts.map((v) => `${v.name}: ${v.reason}`).join('; ')}`;
  return { variants: verdicts, selected, fallbacks: ranking.slice(1).map((v) => v.name), ranking: ranking.map((v) => v.name), fingerprint, summary };
}

/** The verified-acceleration walk order for a selection: selected first, then the fallbacks, with expected latency. */
export function walkCandidates(result: SelectionResult): WalkCandidate[] {
  return result.ranking.map((name) => {
    const v = result.variants.find((x) => x.name === name)!;
    return { name, accelerator: v.accelerator, expectedLatencyMs: v.latencyMs };
  });
}
