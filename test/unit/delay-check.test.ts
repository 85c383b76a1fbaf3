import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { estimateDecisionLatencyMs, pulseDelayWarnings } from '../../agent/actuators/delay-check.js';
import { checkConfigText } from '../../agent/config/load.js';
import { repoRoot } from '../helpers/cli.js';

const rules = (file: string) => checkConfigText(readFileSync(join(repoRoot, 'config', file), 'utf8')).config!.rules;

describe('pulse delay vs capture-to-decision latency', () => {
  it('the shipped default config gets pulses (its delayMs exceeds a measured latency of a slow Pi model)', () => {
    // 120 ms inference (a Pi 4 running an SSD on the CPU) -> ~240 ms capture-to-decision.
    expect(pulseDelayWarnings(rules('default.yaml'), estimateDecisionLatencyMs(120))).toEqual([]);
    expect(pulseDelayWarnings(rules('conveyor-demo.yaml'), estimateDecisionLatencyMs(120))).toEqual([]);
  });

  it('a delayMs at or below the latency is one warning naming the rule, output, delay and the number', () => {
    const r = rules('default.yaml');
    const pulse = r[0]!.actions.find((a) => a.type === 'pulse')!;
    (pulse as { delayMs: number }).delayMs = 0;
    const w = pulseDelayWarnings(r, 37.2);
    expect(w).toHaveLength(1);
    expect(w[0]).toMatchObject({ rule: 'reject-defects', output: 'reject', delayMs: 0, latencyMs: 38 });
    expect(w[0]!.message).toMatch(/delayMs 0, not more than the measured capture-to-decision latency \(~38 ms\).*reported missed.*set delayMs/);
    expect(pulseDelayWarnings(r, undefined)).toEqual([]);
    expect(pulseDelayWarnings(r, Number.NaN)).toEqual([]);
  });
});
