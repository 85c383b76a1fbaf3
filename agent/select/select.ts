import { referenceOf, type AgreementSpec, type VariantSpec } from '../model/manifest-schema.js';
import { DEFAULT_MIN_AGREEMENT, belowFloor } from './agreement.js';
import { hardwareFingerprint, lookupAgreement, lookupBench, type BenchCache } from './bench-cache.js';
import { deviceClassFor, estimateLatency } from './device-class.js';
import type { Capabilities, HardwareProfile, Usability } from './hardware.js';
import type { WalkCandidate } from './verify-walk.js';

/** The deployment's trade-off: U = alpha * accuracy(mAP50) - beta * latency_ms, and a hard latency budget. */
export interface SelectionConfig {
  alpha: number;
  beta: number;
  latencyBudgetMs?: number;
  /**
   * The floor: a variant whose measured agreement with its reference is below this (0..1) is never selected.
   * Default 0.95.
   */
  minAgreement?: number;
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
  /** Where the accuracy came from: the manifest's mAP50, the reference's mAP50 x agreement, or agreement alone. */
  accuracySource: string | null;
  /** Agreement with the reference (0..1) when known, measured here or from the manifest. */
  agreement: number | null;
  /** The variant it is compared with (undefined for a reference itself). */
  reference?: string;
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
const fmtAcc = (n: number): string => String(Math.round(n * 10000) / 10000);

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
  const minAgreement = selection.minAgreement ?? DEFAULT_MIN_AGREEMENT;
  const accuracyOf = (v: VariantSpec): Pick<VariantVerdict, 'accuracy' | 'accuracySource' | 'agreement' | 'reference'> & { agreementSpec?: AgreementSpec } => {
    const ref = referenceOf(input.variants, v);
    const measured = ref && input.benchCache ? lookupAgreement(input.benchCache, fingerprint, v.sha256, ref.sha256) : undefined;
    const a = measured ?? v.accuracy?.agreement;
    const from = measured ? `measured here ${measured.measuredAt.slice(0, 10)}` : 'manifest';
    const common = { agreement: a?.value ?? null, ...(ref ? { reference: ref.name } : {}), ...(a ? { agreementSpec: a } : {}) };
    if (v.accuracy?.mAP50 !== undefined) return { ...common, accuracy: v.accuracy.mAP50, accuracySource: 'manifest mAP50' };
    if (a && ref?.accuracy?.mAP50 !== undefined) {
      return { ...common, accuracy: ref.accuracy.mAP50 * a.value, accuracySource: `${ref.name} mAP50 ${ref.accuracy.mAP50} x agreement ${a.value.toFixed(3)} (${from})` };
    }
    if (a) return { ...common, accuracy: a.value, accuracySource: `agreement with ${a.reference} ${a.value.toFixed(3)} (${from})` };
    return { ...common, accuracy: null, accuracySource: null };
  };
  const withoutSpec = <T extends { agreementSpec?: AgreementSpec }>(x: T): Omit<T, 'agreementSpec'> => {
    const { agreementSpec: _spec, ...rest } = x;
    return rest;
  };
  const verdicts: VariantVerdict[] = input.variants.map((v) => {
    const base: VariantVerdict = {
      name: v.name, runtime: v.runtime, accelerator: v.accelerator, eligible: false, score: null,
      latencyMs: null, latencySource: null, ...withoutSpec(accuracyOf(v)), deviceClass: null, reason: '',
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

  // The floor and the reference: a variant that agrees too little with its reference, or is slower than it here,
  // is never selected; one derived from a reference with no accuracy known at all only follows the others.
  const unknownAccuracy = new Set<VariantVerdict>();
  verdicts.forEach((vd, i) => {
    if (!vd.eligible || !vd.reference) return;
    const spec = input.variants[i]!;
    const acc = accuracyOf(spec);
    const low = acc.agreementSpec ? belowFloor(vd.name, acc.agreementSpec, minAgreement) : undefined;
    if (low) {
      Object.assign(vd, { eligible: false, score: null, reason: low });
      return;
    }
    const ref = verdicts.find((x) => x.name === vd.reference);
    if (ref?.eligible && ref.latencyMs !== null && vd.latencyMs !== null && vd.latencyMs >= ref.latencyMs) {
      Object.assign(vd, { eligible: false, score: null, reason: `${vd.name} is not faster than its reference ${ref.name} here: ${fmt(vd.latencyMs)} ms (${vd.latencySource}) vs ${fmt(ref.latencyMs)} ms (${ref.latencySource})` });
      return;
    }
    if (vd.accuracy === null) unknownAccuracy.add(vd);
  });

  const scored = verdicts.filter((v) => v.eligible && v.score !== null && !unknownAccuracy.has(v)).sort((a, b) => b.score! - a.score!);
  const unscored = verdicts.filter((v) => v.eligible && v.score === null && !unknownAccuracy.has(v));
  const unproven = verdicts.filter((v) => unknownAccuracy.has(v)).sort((a, b) => (a.latencyMs ?? Infinity) - (b.latencyMs ?? Infinity));
  const ranking = [...scored, ...unscored, ...unproven];
  const best = ranking[0];
  for (const v of ranking) {
    const accWords = v.accuracy === null ? ' (no accuracy in the manifest: counted as 0)' : v.accuracySource && v.accuracySource !== 'manifest mAP50' ? ` (accuracy: ${v.accuracySource})` : '';
    const formula = v.score === null ? '' : `U = ${alpha}*${fmtAcc(v.accuracy ?? 0)} - ${beta}*${fmt(v.latencyMs!)} ms = ${fmt(v.score)}${accWords}; latency ${v.latencySource}`;
    if (unknownAccuracy.has(v)) {
      const why = `accuracy unknown: no mAP50 in the manifest and no agreement with ${v.reference} measured (run \`edge-agent bench --frames DIR\` or \`optimize\`), so it only follows the variants of known accuracy`;
      v.reason = v === best ? `chosen: nothing else can run; ${why}` : `${why}; ${formula}`;
    } else if (v === best) {
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
