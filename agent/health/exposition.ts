/**
 * Prometheus text exposition format 0.0.4 helpers
 * (https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format):
 * - HELP text escapes backslash and line feed;
 * - label values escape backslash, double quote and line feed;
 * - sample values are Go floats: NaN, +Inf, -Inf spelled out.
 */
import { AgentError } from '../errors.js';

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function checkMetricName(name: string): void {
  if (!METRIC_NAME.test(name)) {
    throw new AgentError('INTERNAL', `invalid metric name "${name}"`, { fix: 'use [a-zA-Z_:][a-zA-Z0-9_:]*' });
  }
}

export function checkLabelName(name: string): void {
  if (!LABEL_NAME.test(name) || name.startsWith('__')) {
    throw new AgentError('INTERNAL', `invalid label name "${name}"`, { fix: 'use [a-zA-Z_][a-zA-Z0-9_]* not starting with __' });
  }
}

export function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** `{a="x",b="y"}` in the given order, or '' when there are no labels. */
export function formatLabels(pairs: ReadonlyArray<readonly [string, string]>): string {
  if (pairs.length === 0) return '';
  return `{${pairs.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',')}}`;
}

export function sampleLine(name: string, labels: ReadonlyArray<readonly [string, string]>, value: number): string {
  return `${name}${formatLabels(labels)} ${formatValue(value)}`;
}
