/**
 * Verified acceleration: the first choice is only kept if it really computes the model (a known-answer
 * inference) at about the expected speed. Otherwise the next candidate is tried, and the result says
 * loudly what was wanted, what runs, and why (never a silent fallback to CPU).
 */

export interface WalkCandidate {
  name: string;
  accelerator?: string;
  /** Expected latency (bench or manifest), to catch an accelerator that "works" but is far too slow. */
  expectedLatencyMs?: number | null;
}

export interface VerifyOutcome {
  ok: boolean;
  reason?: string;
  latencyMs?: number;
}

export interface WalkAttempt {
  name: string;
  ok: boolean;
  reason?: string;
  latencyMs?: number;
}

export interface Degraded {
  wanted: string;
  /** The variant that runs instead, or null when nothing verified. */
  running: string | null;
  reason: string;
}

export interface WalkResult {
  running: string | null;
  attempts: WalkAttempt[];
  degraded: Degraded | null;
}

export interface WalkOptions {
  /** A verified run slower than this many times its expected latency counts as failed (default 3). */
  slowFactor?: number;
}

const label = (c: WalkCandidate): string => (c.accelerator ? `${c.name} (${c.accelerator})` : c.name);

/** Walks the candidates (best first) and returns the first that verifies. `verify` may throw: that is a failure. */
export async function verifyWalk(
  candidates: readonly WalkCandidate[],
  verify: (candidate: WalkCandidate) => Promise<VerifyOutcome>,
  opts: WalkOptions = {},
): Promise<WalkResult> {
  const slowFactor = opts.slowFactor ?? 3;
  const attempts: WalkAttempt[] = [];
  for (const c of candidates) {
    let outcome: VerifyOutcome;
    try {
      outcome = await verify(c);
    } catch (err) {
      outcome = { ok: false, reason: err instanceof Error ? err.message : String(err) };
    }
    const attempt: WalkAttempt = { name: c.name, ok: outcome.ok };
    if (outcome.latencyMs !== undefined) attempt.latencyMs = outcome.latencyMs;
    if (!outcome.ok) {
      attempt.reason = outcome.reason ?? 'known-answer check failed';
    } else if (c.expectedLatencyMs && outcome.latencyMs !== undefined && outcome.latencyMs > slowFactor * c.expectedLatencyMs) {
      attempt.ok = false;
      attempt.reason = `too slow: ${outcome.latencyMs.toFixed(1)} ms measured, about ${c.expectedLatencyMs} ms expected (over ${slowFactor}x)`;
    }
    attempts.push(attempt);
    if (attempt.ok) {
      const first = candidates[0]!;
      // A busy machine slows every variant: one passed over as "too slow" that still measured faster than this one
      // is the better choice here (it was ranked higher, and it is faster now). Never run a slower one in its place.
      const faster = fastestTooSlow(attempts);
      if (faster && attempt.latencyMs !== undefined && faster.latencyMs! < attempt.latencyMs) {
        attempt.ok = false;
        attempt.reason = `slower than ${faster.name} measured now: ${attempt.latencyMs.toFixed(1)} ms against ${faster.latencyMs!.toFixed(1)} ms`;
        return {
          running: faster.name,
          attempts,
          degraded: {
            wanted: first.name,
            running: faster.name,
            reason: `degraded: running ${faster.name} slower than expected, the fastest variant measured now: ${failures(attempts)}`,
          },
        };
      }
      const degraded =
        c === first
          ? null
          : { wanted: first.name, running: c.name, reason: `degraded: wanted ${label(first)}, running ${label(c)} because ${failures(attempts)}` };
      return { running: c.name, attempts, degraded };
    }
  }
  if (candidates.length === 0) return { running: null, attempts, degraded: null };
  // Every candidate computed the right answer but slower than expected (a busy or throttled board): run the
  // best of them rather than nothing, and say so. Only wrong answers and failures to load stop the agent.
  const slow = attempts.find((a) => a.reason?.startsWith('too slow'));
  if (slow) {
    return {
      running: slow.name,
      attempts,
      degraded: { wanted: candidates[0]!.name, running: slow.name, reason: `degraded: running ${slow.name} slower than expected because no variant met its expected latency: ${failures(attempts)}` },
    };
  }
  return {
    running: null,
    attempts,
    degraded: { wanted: candidates[0]!.name, running: null, reason: `no variant verified: ${failures(attempts)}` },
  };
}

function fastestTooSlow(attempts: WalkAttempt[]): WalkAttempt | undefined {
  let best: WalkAttempt | undefined;
  for (const a of attempts) if (a.reason?.startsWith('too slow') && a.latencyMs !== undefined && (!best || a.latencyMs < best.latencyMs!)) best = a;
  return best;
}

function failures(attempts: WalkAttempt[]): string {
  return attempts
    .filter((a) => !a.ok)
    .map((a) => `${a.name}: ${a.reason}`)
    .join('; ');
}
