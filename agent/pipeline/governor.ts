/**
 * The adaptive governor: decides when to trade accuracy or frame rate for latency and temperature.
 * Pure decision logic on an injected time (`now` per tick), no I/O: the caller feeds measurements and applies
 * the decision (switches the variant, sets the source's frame-rate cap) and logs the reason.
 *
 * The settings form one ladder, best first: every variant (heaviest/most accurate first) at the full frame rate,
 * then the lightest variant at each frame-rate cap. Stepping down moves one rung down the ladder, stepping up one
 * rung up.
 */

export interface GovernorConfig {
  enabled: boolean;
  /** Step down when p95 latency exceeds the budget for this long. */
  overBudgetMs: number;
  /** Step down at or above this SoC temperature; step up only below maxTempC - hysteresisC. */
  maxTempC: number;
  hysteresisC: number;
}

export interface GovernorOptions {
  /** Variant names, heaviest (most accurate) first. */
  variants: string[];
  /** Frame-rate caps used once on the lightest variant, highest first (e.g. [10, 5, 2]). */
  fpsCaps?: number[];
  /** p95 latency budget in ms (e.g. the frame period, or the actuation deadline). */
  budgetMs: number;
  /** p95 at or below budgetMs * comfort counts as comfortably under budget (default 0.7). */
  comfort?: number;
  /** Cool and comfortable for this long before stepping up, and as long since the last change (default 30 s). */
  upHoldMs?: number;
  /** After a change, latency is not judged for this long so that new samples replace old ones (default 3 s). */
  settleMs?: number;
  /** Minimum time between two thermal step-downs, so the temperature can respond (default 15 s). */
  thermalStepMs?: number;
  /** Known p95 per variant (a bench cache): never step up into a variant expected to miss the comfort line. */
  expectedLatencyMs?: Array<number | undefined>;
  /** Starting rung (default 0: the heaviest variant at full rate). */
  initialLevel?: number;
}

export interface GovernorTick {
  /** Monotonic ms. */
  now: number;
  /** Rolling p95 of inference (or capture-to-decision) latency; undefined before there are samples. */
  latencyP95Ms?: number;
  /** SoC temperature, when the board has a sensor. */
  tempC?: number;
  /** The board reports throttling now (Pi: get_throttled bits 2/3; Jetson: thermal zone trip). */
  throttled?: boolean;
}

export type GovernorAction = 'hold' | 'down' | 'up';

export interface GovernorSetting {
  level: number;
  variantIndex: number;
  variant: string;
  /** Frame-rate cap; undefined = the source's full rate. */
  fpsCap: number | undefined;
}

export interface GovernorDecision extends GovernorSetting {
  action: GovernorAction;
  /** True when the setting differs from the previous tick's (the caller applies it and logs the reason). */
  changed: boolean;
  reason: string;
}

const defaults = { comfort: 0.7, upHoldMs: 30_000, settleMs: 3_000, thermalStepMs: 15_000 };

export class Governor {
  private level: number;
  private readonly maxLevel: number;
  private readonly o: Required<Omit<GovernorOptions, 'expectedLatencyMs' | 'initialLevel'>> & Pick<GovernorOptions, 'expectedLatencyMs'>;
  private lastChangeMono: number | undefined;
  private overSince: number | undefined;
  private upSince: number | undefined;
  private lastReason = 'not evaluated yet';
  changes = 0;

  constructor(
    private readonly cfg: GovernorConfig,
    opts: GovernorOptions,
  ) {
    if (!opts.variants.length) throw new Error('Governor: at least one variant is needed');
    this.o = { fpsCaps: [], ...defaults, ...opts } as typeof this.o;
    this.maxLevel = opts.variants.length - 1 + this.o.fpsCaps.length;
    this.level = Math.min(this.maxLevel, Math.max(0, opts.initialLevel ?? 0));
  }

  /** The setting of a rung of the ladder. */
  settingAt(level: number): GovernorSetting {
    const v = this.o.variants.length;
    const variantIndex = Math.min(level, v - 1);
    return { level, variantIndex, variant: this.o.variants[variantIndex]!, fpsCap: level >= v ? this.o.fpsCaps[level - v] : undefined };
  }

  current(): GovernorSetting & { reason: string; changes: number } {
    return { ...this.settingAt(this.level), reason: this.lastReason, changes: this.changes };
  }

  tick(t: GovernorTick): GovernorDecision {
    const d = this.decide(t);
    this.lastReason = d.reason;
    return d;
  }

  private decide(t: GovernorTick): GovernorDecision {
    const c = this.cfg;
    if (!c.enabled) return this.hold('governor disabled');
    const sinceChange = this.lastChangeMono === undefined ? Infinity : t.now - this.lastChangeMono;
    const hot = t.tempC !== undefined && t.tempC >= c.maxTempC;
    if (hot || t.throttled) {
      this.upSince = undefined;
      this.overSince = undefined;
      const why = hot ? `SoC at ${t.tempC!.toFixed(1)} °C, at or above maxTempC ${c.maxTempC} °C` : 'the board reports throttling';
      if (this.level >= this.maxLevel) return this.hold(`${why}, but already at the lightest setting`);
      if (sinceChange < this.o.thermalStepMs) return this.hold(`${why}; waiting ${Math.ceil(this.o.thermalStepMs - sinceChange)} ms after the last step before the next`);
      return this.step(t.now, +1, why);
    }
    const p95 = t.latencyP95Ms;
    if (p95 === undefined) return this.hold('no latency samples yet');
    if (sinceChange < this.o.settleMs) return this.hold(`settling after the last change (${Math.round(sinceChange)} of ${this.o.settleMs} ms)`);
    const budget = this.o.budgetMs;
    if (p95 > budget) {
      this.upSince = undefined;
      this.overSince ??= t.now;
      const over = t.now - this.overSince;
      const why = `p95 latency ${p95.toFixed(1)} ms over the ${budget} ms budget for ${Math.round(over)} ms`;
      if (over < c.overBudgetMs) return this.hold(`${why} (steps down after ${c.overBudgetMs} ms)`);
      if (this.level >= this.maxLevel) return this.hold(`${why}, but already at the lightest setting`);
      this.overSince = undefined;
      return this.step(t.now, +1, why);
    }
    this.overSince = undefined;
    if (this.level === 0) {
      this.upSince = undefined;
      return this.hold('at the best setting and within budget');
    }
    const coolLine = c.maxTempC - c.hysteresisC;
    if (t.tempC !== undefined && t.tempC >= coolLine) {
      this.upSince = undefined;
      return this.hold(`SoC at ${t.tempC.toFixed(1)} °C: not below ${coolLine} °C (maxTempC - hysteresisC) yet`);
    }
    const comfortLine = budget * this.o.comfort;
    if (p95 > comfortLine) {
      this.upSince = undefined;
      return this.hold(`p95 latency ${p95.toFixed(1)} ms within budget but not under ${comfortLine.toFixed(1)} ms (comfort line)`);
    }
    const target = this.settingAt(this.level - 1);
    const expected = target.fpsCap === undefined ? this.o.expectedLatencyMs?.[target.variantIndex] : undefined;
    if (expected !== undefined && expected > comfortLine) {
      this.upSince = undefined;
      return this.hold(`variant ${target.variant} is expected at ${expected.toFixed(1)} ms p95, above the ${comfortLine.toFixed(1)} ms comfort line`);
    }
    this.upSince ??= t.now;
    const held = t.now - this.upSince;
    const need = Math.max(this.o.upHoldMs - held, this.o.upHoldMs - sinceChange);
    if (need > 0) return this.hold(`cool and comfortably within budget; stepping up in ${Math.ceil(need)} ms if it stays so`);
    this.upSince = undefined;
    return this.step(t.now, -1, `p95 latency ${p95.toFixed(1)} ms under ${comfortLine.toFixed(1)} ms${t.tempC !== undefined ? ` and SoC at ${t.tempC.toFixed(1)} °C below ${coolLine} °C` : ''} for ${this.o.upHoldMs} ms`);
  }

  private hold(reason: string): GovernorDecision {
    return { ...this.settingAt(this.level), action: 'hold', changed: false, reason };
  }

  private step(now: number, dir: 1 | -1, why: string): GovernorDecision {
    const from = this.settingAt(this.level);
    this.level += dir;
    this.lastChangeMono = now;
    this.changes++;
    const to = this.settingAt(this.level);
    const what = describeChange(from, to);
    return { ...to, action: dir > 0 ? 'down' : 'up', changed: true, reason: `${dir > 0 ? 'step down' : 'step up'}: ${what} because ${why}` };
  }
}

function describeChange(from: GovernorSetting, to: GovernorSetting): string {
  const parts: string[] = [];
  if (from.variant !== to.variant) parts.push(`variant ${from.variant} -> ${to.variant}`);
  if (from.fpsCap !== to.fpsCap) parts.push(`frame-rate cap ${from.fpsCap ?? 'none'} -> ${to.fpsCap ?? 'none'}`);
  return parts.join(', ');
}

/**
 * Applies a governor frame-rate cap in the loop: admits a frame when at least one cap period has passed since
 * the last admitted one (a quarter period of slack absorbs capture jitter, so a 10 fps cap on a 30 fps camera
 * admits every third frame, not every fourth). Undefined cap: every frame passes. Use as (part of) the
 * pipeline's `gate`.
 */
export class FrameRateCap {
  private fps: number | undefined;
  private lastMono = -Infinity;
  skipped = 0;

  set(fps: number | undefined): void {
    this.fps = fps;
  }

  get cap(): number | undefined {
    return this.fps;
  }

  admit(frame: { captureMono: number }): boolean {
    if (!this.fps) return true;
    const period = 1000 / this.fps;
    if (frame.captureMono - this.lastMono < period * 0.75) {
      this.skipped++;
      return false;
    }
    this.lastMono = frame.captureMono;
    return true;
  }
}
