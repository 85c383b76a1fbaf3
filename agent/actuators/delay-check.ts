/**
 * A pulse is due at capture time + delayMs; the decision to fire it comes only after the frame is read,
 * inferred and judged. A delayMs shorter than that capture-to-decision latency makes every pulse due in the past,
 * so each one is reported "missed" and nothing ever fires: a silent failure for a user who keeps a small default.
 * This check turns it into a warning at start, with the measured number.
 */
import type { RuleConfig } from '../config/sections/rules.js';

export interface DelayWarning {
  rule: string;
  output: string;
  delayMs: number;
  /** The capture-to-decision latency the delay was compared with (ms). */
  latencyMs: number;
  message: string;
}

/**
 * Pulses whose delayMs does not exceed `latencyMs` (capture-to-decision, measured: the model's known-answer run
 * at start or the bench cache, plus reading and judging the frame). Undefined or non-finite latency: no check.
 */
export function pulseDelayWarnings(rules: ReadonlyArray<RuleConfig>, latencyMs: number | undefined): DelayWarning[] {
  if (latencyMs === undefined || !Number.isFinite(latencyMs) || latencyMs < 0) return [];
  const out: DelayWarning[] = [];
  const shown = Math.ceil(latencyMs);
  for (const r of rules) {
    for (const a of r.actions) {
      if (a.type !== 'pulse' || a.delayMs > latencyMs) continue;
      out.push({
        rule: r.name,
        output: a.output,
        delayMs: a.delayMs,
        latencyMs: shown,
        message: `rule "${r.name}": the pulse on "${a.output}" has delayMs ${a.delayMs}, not more than the measured capture-to-decision latency (~${shown} ms): every pulse would be due before it is decided and be reported missed; set delayMs to the camera-to-actuator travel time (more than ${shown} ms, with margin)`,
      });
    }
  }
  return out;
}

/**
 * Capture-to-decision estimate at start: the model's measured inference time plus the frame's read and
 * pre/post-processing, taken as the same again (a conservative, measured-based bound), at least 1 ms.
 */
export function estimateDecisionLatencyMs(inferenceMs: number | undefined): number | undefined {
  if (inferenceMs === undefined || !Number.isFinite(inferenceMs)) return undefined;
  return Math.max(1, 2 * inferenceMs);
}
