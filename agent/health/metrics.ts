/**
 * A small metrics registry: counters, gauges and summaries with labels, rendered in the Prometheus text
 * format. No dependency on prom-client: the agent needs a dozen series, and the format is simple enough to
 * own (exposition.ts). Recording is O(1) and never throws on the hot path once the label names are right.
 */
import { AgentError } from '../errors.js';
import { checkLabelName, checkMetricName, escapeHelp, sampleLine } from './exposition.js';

type Labels<L extends string> = [L] extends [never] ? Record<string, never> : Record<L, string | number>;

export interface MetricOptions<L extends string> {
  name: string;
  help: string;
  labelNames?: readonly L[];
}

export interface SummaryOptions<L extends string> extends MetricOptions<L> {
  /** Quantiles to expose (0..1); default 0.5, 0.9, 0.99. */
  quantiles?: readonly number[];
  /** Sliding window: observations older than this are forgotten (default 60 s). */
  maxAgeMs?: number;
  /** ... and at most this many are kept per series (default 1024). */
  maxSamples?: number;
}

interface Metric {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'summary' | 'histogram';
  render(now: number): string[];
}

abstract class Labelled<L extends string, S> implements Metric {
  abstract readonly type: 'counter' | 'gauge' | 'summary' | 'histogram';
  readonly name: string;
  readonly help: string;
  protected readonly labelNames: readonly L[];
  protected readonly series = new Map<string, { labels: Array<[string, string]>; state: S }>();

  constructor(opts: MetricOptions<L>) {
    checkMetricName(opts.name);
    this.name = opts.name;
    this.help = opts.help;
    this.labelNames = opts.labelNames ?? [];
    for (const l of this.labelNames) checkLabelName(l);
  }

  protected abstract initial(): S;
  abstract render(now: number): string[];

  /** Forgets every series (e.g. edge_agent_accelerator_info after a variant switch). */
  reset(): void {
    this.series.clear();
  }

  protected state(labels: Labels<L> | undefined): S {
    const values = this.labelNames.map((n) => {
      const v = (labels as Record<string, string | number> | undefined)?.[n];
      if (v === undefined) throw new AgentError('INTERNAL', `metric ${this.name} needs label "${n}"`, { fix: `pass ${this.labelNames.join(', ')}` });
      return String(v);
    });
    const key = values.join('\u0000');
    let s = this.series.get(key);
    if (!s) {
      s = { labels: this.labelNames.map((n, i) => [n, values[i]!] as [string, string]), state: this.initial() };
      this.series.set(key, s);
    }
    return s.state;
  }
}

export class Counter<L extends string = never> extends Labelled<L, { value: number }> {
  readonly type = 'counter' as const;

  constructor(opts: MetricOptions<L>) {
    super(opts);
    if (this.labelNames.length === 0) this.state(undefined);
  }

  protected initial(): { value: number } {
    return { value: 0 };
  }

  inc(labels?: Labels<L>, by = 1): void {
    if (!(by >= 0)) throw new AgentError('INTERNAL', `counter ${this.name} cannot go down (inc by ${by})`);
    this.state(labels).value += by;
  }

  get(labels?: Labels<L>): number {
    return this.state(labels).value;
  }

  render(): string[] {
    return [...this.series.values()].map((s) => sampleLine(this.name, s.labels, s.state.value));
  }
}

export class Gauge<L extends string = never> extends Labelled<L, { value: number }> {
  readonly type = 'gauge' as const;
  private readonly collectFn: ((g: Gauge<L>) => void) | undefined;

  constructor(opts: MetricOptions<L> & { collect?: (g: Gauge<L>) => void }) {
    super(opts);
    this.collectFn = opts.collect;
    if (this.labelNames.length === 0) this.state(undefined);
  }

  protected initial(): { value: number } {
    return { value: 0 };
  }

  set(value: number, labels?: Labels<L>): void {
    this.state(labels).value = value;
  }

  inc(labels?: Labels<L>, by = 1): void {
    this.state(labels).value += by;
  }

  get(labels?: Labels<L>): number {
    return this.state(labels).value;
  }

  render(): string[] {
    this.collectFn?.(this);
    return [...this.series.values()].map((s) => sampleLine(this.name, s.labels, s.state.value));
  }
}

/** Quantiles over a sliding window (exact, by sorting at scrape time), plus the all-time _sum and _count. */
export class Summary<L extends string = never> extends Labelled<L, SummaryState> {
  readonly type = 'summary' as const;
  private readonly quantiles: readonly number[];
  private readonly maxAgeMs: number;
  private readonly maxSamples: number;
  private readonly now: () => number;

  constructor(opts: SummaryOptions<L>, now: () => number) {
    super(opts);
    if ((opts.labelNames ?? []).includes('quantile' as L)) throw new AgentError('INTERNAL', `summary ${opts.name} cannot use the label "quantile"`);
    this.quantiles = opts.quantiles ?? [0.5, 0.9, 0.99];
    for (const q of this.quantiles) if (!(q >= 0 && q <= 1)) throw new AgentError('INTERNAL', `summary ${opts.name}: quantile ${q} is outside 0..1`);
    this.maxAgeMs = opts.maxAgeMs ?? 60_000;
    this.maxSamples = opts.maxSamples ?? 1024;
    this.now = now;
    if (this.labelNames.length === 0) this.state(undefined);
  }

  protected initial(): SummaryState {
    return { values: new Float64Array(this.maxSamples), times: new Float64Array(this.maxSamples), next: 0, size: 0, sum: 0, count: 0 };
  }

  observe(value: number, labels?: Labels<L>): void {
    const s = this.state(labels);
    s.values[s.next] = value;
    s.times[s.next] = this.now();
    s.next = (s.next + 1) % this.maxSamples;
    s.size = Math.min(s.size + 1, this.maxSamples);
    s.sum += value;
    s.count++;
  }

  /** The q-quantile of the window (nearest rank), NaN when the window is empty. */
  quantile(q: number, labels?: Labels<L>, now = this.now()): number {
    return quantileOf(this.windowOf(this.state(labels), now), q);
  }

  render(now: number): string[] {
    const out: string[] = [];
    for (const s of this.series.values()) {
      const window = this.windowOf(s.state, now);
      for (const q of this.quantiles) out.push(sampleLine(this.name, [...s.labels, ['quantile', String(q)]], quantileOf(window, q)));
      out.push(sampleLine(`${this.name}_sum`, s.labels, s.state.sum));
      out.push(sampleLine(`${this.name}_count`, s.labels, s.state.count));
    }
    return out;
  }

  private windowOf(s: SummaryState, now: number): Float64Array {
    const kept: number[] = [];
    for (let i = 0; i < s.size; i++) if (now - s.times[i]! <= this.maxAgeMs) kept.push(s.values[i]!);
    return Float64Array.from(kept).sort();
  }
}

export interface HistogramOptions<L extends string> extends MetricOptions<L> {
  /** Upper bounds of the buckets, ascending (the +Inf bucket is added). */
  buckets: readonly number[];
}

/**
 * A Prometheus histogram: cumulative bucket counts (`_bucket{le=...}`), `_sum` and `_count`, all-time. Unlike a
 * summary it aggregates across devices (histogram_quantile() over a fleet) and costs O(buckets) per observation.
 */
export class Histogram<L extends string = never> extends Labelled<L, { counts: Float64Array; sum: number; count: number }> {
  readonly type = 'histogram' as const;
  readonly buckets: readonly number[];

  constructor(opts: HistogramOptions<L>) {
    super(opts);
    if ((opts.labelNames ?? []).includes('le' as L)) throw new AgentError('INTERNAL', `histogram ${opts.name} cannot use the label "le"`);
    for (let i = 1; i < opts.buckets.length; i++) {
      if (!(opts.buckets[i]! > opts.buckets[i - 1]!)) throw new AgentError('INTERNAL', `histogram ${opts.name}: buckets must ascend`);
    }
    this.buckets = opts.buckets;
    if (this.labelNames.length === 0) this.state(undefined);
  }

  protected initial(): { counts: Float64Array; sum: number; count: number } {
    return { counts: new Float64Array(this.buckets.length), sum: 0, count: 0 };
  }

  observe(value: number, labels?: Labels<L>): void {
    const s = this.state(labels);
    // Non-cumulative here (one increment); rendered cumulative.
    for (let i = 0; i < this.buckets.length; i++) {
      if (value <= this.buckets[i]!) {
        s.counts[i]!++;
        break;
      }
    }
    s.sum += value;
    s.count++;
  }

  /** Observations so far with value <= `le` (a bucket bound), or all of them for +Inf. */
  countAtMost(le: number, labels?: Labels<L>): number {
    const s = this.state(labels);
    let n = 0;
    for (let i = 0; i < this.buckets.length && this.buckets[i]! <= le; i++) n += s.counts[i]!;
    return le === Infinity ? s.count : n;
  }

  count(labels?: Labels<L>): number {
    return this.state(labels).count;
  }

  render(): string[] {
    const out: string[] = [];
    for (const s of this.series.values()) {
      let cum = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        cum += s.state.counts[i]!;
        out.push(sampleLine(`${this.name}_bucket`, [...s.labels, ['le', String(this.buckets[i])]], cum));
      }
      out.push(sampleLine(`${this.name}_bucket`, [...s.labels, ['le', '+Inf']], s.state.count));
      out.push(sampleLine(`${this.name}_sum`, s.labels, s.state.sum));
      out.push(sampleLine(`${this.name}_count`, s.labels, s.state.count));
    }
    return out;
  }
}

interface SummaryState {
  values: Float64Array;
  times: Float64Array;
  next: number;
  size: number;
  sum: number;
  count: number;
}

function quantileOf(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil(q * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))]!;
}

export class MetricsRegistry {
  private readonly metrics = new Map<string, Metric>();

  /** @param now monotonic milliseconds (summary windows); default performance.now. */
  constructor(private readonly now: () => number = () => performance.now()) {}

  counter<L extends string = never>(opts: MetricOptions<L>): Counter<L> {
    return this.add(new Counter<L>(opts));
  }

  gauge<L extends string = never>(opts: MetricOptions<L> & { collect?: (g: Gauge<L>) => void }): Gauge<L> {
    return this.add(new Gauge<L>(opts));
  }

  summary<L extends string = never>(opts: SummaryOptions<L>): Summary<L> {
    return this.add(new Summary<L>(opts, this.now));
  }

  histogram<L extends string = never>(opts: HistogramOptions<L>): Histogram<L> {
    return this.add(new Histogram<L>(opts));
  }

  /** The whole registry in the Prometheus text format 0.0.4 (ends with a line feed). */
  expose(): string {
    const now = this.now();
    const lines: string[] = [];
    for (const m of this.metrics.values()) {
      lines.push(`# HELP ${m.name} ${escapeHelp(m.help)}`, `# TYPE ${m.name} ${m.type}`, ...m.render(now));
    }
    return `${lines.join('\n')}\n`;
  }

  private add<M extends Metric>(m: M): M {
    if (this.metrics.has(m.name)) throw new AgentError('INTERNAL', `metric ${m.name} is registered twice`);
    this.metrics.set(m.name, m);
    return m;
  }
}
