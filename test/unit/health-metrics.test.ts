import { describe, expect, it } from 'vitest';
import { MetricsRegistry } from '../../agent/health/metrics.js';
import { escapeHelp, escapeLabelValue, formatValue } from '../../agent/health/exposition.js';
import { registerAgentMetrics, STAGES } from '../../agent/health/agent-metrics.js';

describe('Prometheus text exposition 0.0.4', () => {
  it('renders HELP/TYPE and samples for counters and gauges, labelled and not', () => {
    const r = new MetricsRegistry(() => 0);
    const c = r.counter({ name: 'edge_agent_inferences_total', help: 'Inferences run.' });
    const a = r.counter({ name: 'edge_agent_actuations_total', help: 'Output commands.', labelNames: ['output', 'result'] });
    const g = r.gauge({ name: 'edge_agent_outbox_depth', help: 'Events waiting.' });
    c.inc();
    c.inc(undefined, 2);
    a.inc({ output: 'reject_gate', result: 'ok' });
    a.inc({ output: 'reject_gate', result: 'ok' });
    a.inc({ output: 'reject_gate', result: 'rejected' });
    g.set(17);
    expect(r.expose()).toBe(
      [
        '# HELP edge_agent_inferences_total Inferences run.',
        '# TYPE edge_agent_inferences_total counter',
        'edge_agent_inferences_total 3',
        '# HELP edge_agent_actuations_total Output commands.',
        '# TYPE edge_agent_actuations_total counter',
        'edge_agent_actuations_total{output="reject_gate",result="ok"} 2',
        'edge_agent_actuations_total{output="reject_gate",result="rejected"} 1',
        '# HELP edge_agent_outbox_depth Events waiting.',
        '# TYPE edge_agent_outbox_depth gauge',
        'edge_agent_outbox_depth 17',
        '',
      ].join('\n'),
    );
  });

  it('escapes help text and label values as the format requires', () => {
    expect(escapeHelp('a \\ b\nc')).toBe('a \\\\ b\\nc');
    expect(escapeLabelValue('say "hi"\\\n')).toBe('say \\"hi\\"\\\\\\n');
    const r = new MetricsRegistry(() => 0);
    r.gauge({ name: 'x', help: 'line1\nline2', labelNames: ['zone'] }).set(1, { zone: 'cpu "big"\\' });
    expect(r.expose()).toContain('# HELP x line1\\nline2\n# TYPE x gauge\nx{zone="cpu \\"big\\"\\\\"} 1\n');
  });

  it('spells NaN and infinities the Go way', () => {
    expect([formatValue(NaN), formatValue(Infinity), formatValue(-Infinity), formatValue(0.25)]).toEqual(['NaN', '+Inf', '-Inf', '0.25']);
  });

  it('summary: quantiles over a sliding window, all-time sum and count', () => {
    let now = 0;
    const r = new MetricsRegistry(() => now);
    const s = r.summary({ name: 'lat_ms', help: 'Latency.', labelNames: ['stage'], quantiles: [0.5, 0.99], maxAgeMs: 1000 });
    for (let i = 1; i <= 100; i++) s.observe(i, { stage: 'inference' });
    expect(s.quantile(0.5, { stage: 'inference' })).toBe(50);
    expect(s.quantile(0.99, { stage: 'inference' })).toBe(99);
    let text = r.expose();
    expect(text).toContain('lat_ms{stage="inference",quantile="0.5"} 50\n');
    expect(text).toContain('lat_ms{stage="inference",quantile="0.99"} 99\n');
    expect(text).toContain('lat_ms_sum{stage="inference"} 5050\n');
    expect(text).toContain('lat_ms_count{stage="inference"} 100\n');
    // 2 s later the window is empty: quantiles NaN, sum and count stay (they are cumulative).
    now = 2000;
    text = r.expose();
    expect(text).toContain('lat_ms{stage="inference",quantile="0.5"} NaN\n');
    expect(text).toContain('lat_ms_count{stage="inference"} 100\n');
  });

  it('summary keeps at most maxSamples per series (the newest)', () => {
    const r = new MetricsRegistry(() => 0);
    const s = r.summary({ name: 's', help: 'h', maxSamples: 10, quantiles: [0] });
    for (let i = 1; i <= 25; i++) s.observe(i);
    expect(s.quantile(0)).toBe(16);
    expect(r.expose()).toContain('s_count 25\n');
  });

  it('refuses programming mistakes loudly: bad names, missing labels, duplicates, negative counters', () => {
    const r = new MetricsRegistry();
    expect(() => r.counter({ name: 'bad-name', help: 'x' })).toThrow(/invalid metric name/);
    expect(() => r.gauge({ name: 'g', help: 'x', labelNames: ['__x'] })).toThrow(/invalid label name/);
    expect(() => r.summary({ name: 's', help: 'x', labelNames: ['quantile'] })).toThrow(/quantile/);
    const c = r.counter({ name: 'c_total', help: 'x', labelNames: ['a'] });
    expect(() => c.inc({} as { a: string })).toThrow(/needs label "a"/);
    expect(() => c.inc({ a: 'x' }, -1)).toThrow(/cannot go down/);
    expect(() => r.counter({ name: 'c_total', help: 'x' })).toThrow(/registered twice/);
  });
});

describe('the agent metric set', () => {
  it('registers every documented name once, with the right types', () => {
    const r = new MetricsRegistry(() => 0);
    const m = registerAgentMetrics(r, () => 1.5);
    for (const stage of STAGES) m.stageLatency.observe(0.003, { stage });
    m.acceleratorInfo.set(1, { kind: 'cpu', variant: 'ssd-fp32' });
    m.temperature.set(48.3, { zone: 'cpu-thermal' });
    m.restarts.inc({ component: 'source' });
    m.framesDropped.inc({ reason: 'latest' });
    const text = r.expose();
    const types = Object.fromEntries([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((x) => [x[1], x[2]]));
    expect(types).toEqual({
      edge_agent_fps: 'gauge',
      edge_agent_frames_total: 'counter',
      edge_agent_stage_latency_seconds: 'histogram',
      edge_agent_frames_dropped_total: 'counter',
      edge_agent_inferences_total: 'counter',
      edge_agent_inference_seconds: 'histogram',
      edge_agent_accelerator_info: 'gauge',
      edge_agent_outbox_depth: 'gauge',
      edge_agent_actuations_total: 'counter',
      edge_agent_events_total: 'counter',
      edge_agent_sink_failures_total: 'counter',
      edge_agent_source_input_errors_total: 'counter',
      edge_agent_restarts_total: 'counter',
      edge_agent_temperature_celsius: 'gauge',
      edge_agent_listener_failures_total: 'counter',
      edge_agent_last_frame_age_seconds: 'gauge',
      edge_agent_build_info: 'gauge',
    });
    for (const stage of STAGES) {
      expect(text).toContain(`edge_agent_stage_latency_seconds_bucket{stage="${stage}",le="0.0025"} 0\n`);
      expect(text).toContain(`edge_agent_stage_latency_seconds_bucket{stage="${stage}",le="0.005"} 1\n`);
    }
    expect(text).toMatch(/^edge_agent_build_info\{version="[^"]+",node="[^"]+",arch="[^"]+"\} 1$/m);
    expect(text).toContain('edge_agent_accelerator_info{kind="cpu",variant="ssd-fp32"} 1\n');
    expect(text).toContain('edge_agent_last_frame_age_seconds 1.5\n');
    // Every non-comment line is "name{labels} value" with a parseable value.
    for (const line of text.trim().split('\n').filter((l) => !l.startsWith('#'))) {
      expect(line).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? (NaN|[+-]Inf|-?[0-9.e+-]+)$/);
    }
  });
});
