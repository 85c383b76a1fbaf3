import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { VariantSpec } from '../../agent/model/manifest-schema.js';
import {
  benchCachePath, emptyBenchCache, hardwareFingerprint, lookupBench, readBenchCache, recordBench, type BenchCache,
} from '../../agent/select/bench-cache.js';
import { deviceClassFor, estimateLatency } from '../../agent/select/device-class.js';
import type { Capabilities, HardwareProfile } from '../../agent/select/hardware.js';
import { selectVariant, walkCandidates } from '../../agent/select/select.js';
import { verifyWalk, type WalkCandidate } from '../../agent/select/verify-walk.js';
import { acceleratorUsability } from '../../drivers/probe/capabilities.js';
import { probe } from '../../drivers/probe/probe.js';

const fx = (name: string) => resolve(__dirname, '../fixtures/sysroots', name);

/** Capabilities as data: which libraries "load", combined with the profile's devices by the real rule. */
function caps(profile: HardwareProfile, libs: { cuda?: boolean; tflite?: boolean; edgetpu?: boolean } = {}): Capabilities {
  const no = { usable: false, reason: 'Failed to load shared library' };
  const ort: Capabilities['onnxruntime'] = {
    usable: true, version: '1.30.0',
    providers: { cpu: { usable: true }, cuda: libs.cuda ? { usable: true } : no, tensorrt: libs.cuda ? { usable: true } : no },
  };
  const tflite = libs.tflite === false ? { usable: false, reason: 'libtensorflowlite_c.so not loadable' } : { usable: true, version: '2.9.0', library: 'libtensorflowlite_c.so' };
  const etpu = libs.edgetpu ? { usable: true, library: 'libedgetpu.so.1' } : { usable: false, reason: 'libedgetpu.so.1 not found (install libedgetpu1-std from the Coral apt repo)' };
  return { onnxruntime: ort, tflite, edgetpuLibrary: etpu, accelerators: acceleratorUsability(profile, ort, tflite, etpu), notes: [] };
}

function variant(name: string, runtime: 'onnxruntime' | 'tflite', accelerator: VariantSpec['accelerator'], mAP50: number, latencyMs: Record<string, number>, memoryMB?: number): VariantSpec {
  const sha256 = Buffer.from(name.padEnd(32, '.')).toString('hex').slice(0, 64);
  return { name, file: `${name}.bin`, runtime, accelerator, precision: 'fp32', sha256, latencyMs, accuracy: { mAP50 }, ...(memoryMB ? { memoryMB } : {}) };
}

const accurateSlow = variant('accurate-fp32', 'onnxruntime', 'cpu', 0.85, { 'rpi4-cpu': 120, 'x86_64-cpu': 20 });
const fastRough = variant('fast-int8', 'onnxruntime', 'cpu', 0.7, { 'rpi4-cpu': 40, 'x86_64-cpu': 8 });
const tpu = variant('tpu-int8', 'tflite', 'edgetpu', 0.74, { 'coral-usb3': 6.5, 'coral-pcie': 6 });
const gpu = variant('gpu-fp16', 'onnxruntime', 'cuda', 0.85, { 'jetson-orin-gpu': 6 });

describe('selectVariant', () => {
  it('the utility trade-off: alpha/beta change the winner, and every loser says why', () => {
    const profile = probe(fx('rpi4b-bookworm'));
    const c = caps(profile);
    // accuracy-heavy: 1000*0.85-1*120 = 730 beats 1000*0.7-1*40 = 660
    const a = selectVariant({ profile, capabilities: c, variants: [accurateSlow, fastRough], selection: { alpha: 1000, beta: 1 } });
    expect(a.selected).toBe('accurate-fp32');
    expect(a.variants.find((v) => v.name === 'fast-int8')!.reason).toMatch(/^lower utility 660\.0 < 730\.0 \(accurate-fp32\)/);
    // latency-heavy: 100*0.85-1*120 = -35 loses to 100*0.7-1*40 = 30
    const b = selectVariant({ profile, capabilities: c, variants: [accurateSlow, fastRough], selection: { alpha: 100, beta: 1 } });
    expect(b.selected).toBe('fast-int8');
    expect(b.fallbacks).toEqual(['accurate-fp32']);
    expect(b.variants.find((v) => v.name === 'fast-int8')).toMatchObject({ eligible: true, score: 30, latencyMs: 40, deviceClass: 'rpi4-cpu' });
    expect(b.variants.find((v) => v.name === 'fast-int8')!.reason).toMatch(/^chosen: highest utility, U = 100\*0.7 - 1\*40.0 ms = 30.0/);
  });

  it('the memory limit: a variant needing more than MemAvailable is dropped with the numbers', () => {
    const profile = probe(fx('rpi-zero2w-bookworm')); // 295 MB available
    const big = variant('big-fp32', 'onnxruntime', 'cpu', 0.9, { 'rpi-zero2-cpu': 300 }, 350);
    const small = variant('small-int8', 'onnxruntime', 'cpu', 0.6, { 'rpi-zero2-cpu': 200 }, 100);
    const r = selectVariant({ profile, capabilities: caps(profile), variants: [big, small], selection: { alpha: 1000, beta: 0 } });
    expect(r.selected).toBe('small-int8');
    expect(r.variants[0]).toMatchObject({ eligible: false, score: null, reason: 'needs 350 MB of memory, 295 MB available' });
  });

  it('the latency budget drops variants that are too slow', () => {
    const profile = probe(fx('rpi4b-bookworm'));
    const r = selectVariant({ profile, capabilities: caps(profile), variants: [accurateSlow, fastRough], selection: { alpha: 1000, beta: 1, latencyBudgetMs: 50 } });
    expect(r.selected).toBe('fast-int8');
    expect(r.variants[0]!.reason).toBe('latency 120.0 ms (manifest estimate for rpi4-cpu) is over the budget of 50 ms');
  });

  it('unusable accelerators: an Edge TPU variant is never picked without libedgetpu, and is with it', () => {
    const profile = probe(fx('rpi4b-coral-usb-usb3'));
    const without = selectVariant({ profile, capabilities: caps(profile), variants: [tpu, fastRough], selection: { alpha: 100, beta: 1 } });
    expect(without.selected).toBe('fast-int8');
    expect(without.variants[0]!.reason).toMatch(/needs edgetpu: Coral USB Accelerator found, but libedgetpu\.so\.1 not found/);
    const withLib = selectVariant({ profile, capabilities: caps(profile, { edgetpu: true }), variants: [tpu, fastRough], selection: { alpha: 100, beta: 1 } });
    expect(withLib.selected).toBe('tpu-int8');
    expect(withLib.variants[0]).toMatchObject({ deviceClass: 'coral-usb3', latencyMs: 6.5 });
    // no Edge TPU at all
    const pc = probe(fx('x86_64-pc'));
    const r = selectVariant({ profile: pc, capabilities: caps(pc, { edgetpu: true }), variants: [tpu], selection: { alpha: 100, beta: 1 } });
    expect(r.selected).toBeNull();
    expect(r.variants[0]!.reason).toMatch(/needs edgetpu: no Edge TPU found/);
    expect(r.summary).toMatch(/^no variant can run here: tpu-int8: needs edgetpu/);
  });

  it('a Jetson GPU with a CPU-only ONNX Runtime keeps the CPU variant; a GPU build takes the GPU variant', () => {
    const profile = probe(fx('jetson-orin-nano-jp6'));
    const cpuV = variant('cpu-fp32', 'onnxruntime', 'cpu', 0.85, { 'jetson-orin-cpu': 30 });
    const cpuOnly = selectVariant({ profile, capabilities: caps(profile), variants: [gpu, cpuV], selection: { alpha: 100, beta: 1 } });
    expect(cpuOnly.selected).toBe('cpu-fp32');
    expect(cpuOnly.variants[0]!.reason).toMatch(/this onnxruntime-node build has no cuda provider/);
    const gpuBuild = selectVariant({ profile, capabilities: caps(profile, { cuda: true }), variants: [gpu, cpuV], selection: { alpha: 100, beta: 1 } });
    expect(gpuBuild.selected).toBe('gpu-fp16');
    expect(gpuBuild.fallbacks).toEqual(['cpu-fp32']);
    expect(walkCandidates(gpuBuild)).toEqual([
      { name: 'gpu-fp16', accelerator: 'cuda', expectedLatencyMs: 6 },
      { name: 'cpu-fp32', accelerator: 'cpu', expectedLatencyMs: 30 },
    ]);
  });

  it('nearest device class: a USB 2 Coral scales the USB 3 estimate by ~3x; unknown latency ranks last', () => {
    expect(estimateLatency({ 'coral-usb3': 6.5, 'coral-pcie': 6 }, 'coral-usb2')).toEqual({
      latencyMs: 17.7,
      source: 'scaled from the manifest estimate for coral-usb3 (6.5 ms x 2.73, nearest class to coral-usb2)',
    });
    expect(estimateLatency({ 'rpi4-cpu': 40 }, 'jetson-orin-gpu')).toBeUndefined();
    const usb2 = probe(fx('rpi4b-coral-usb-usb2'));
    expect(deviceClassFor(usb2, 'edgetpu')).toBe('coral-usb2');
    // CPU classes scale into each other (a desktop estimate becomes a Pi 4 estimate, 6x slower)...
    expect(estimateLatency({ 'x86_64-cpu': 5, 'coral-usb3': 1 }, 'rpi4-cpu')).toEqual({ latencyMs: 30, source: 'scaled from the manifest estimate for x86_64-cpu (5 ms x 6.00, nearest class to rpi4-cpu)' });
    // ...but never across engines: a GPU figure says nothing about the CPU
    const noFigure = variant('mystery', 'onnxruntime', 'cpu', 0.99, { 'jetson-orin-gpu': 5 });
    const r = selectVariant({ profile: usb2, capabilities: caps(usb2, { edgetpu: true }), variants: [noFigure, tpu], selection: { alpha: 100, beta: 1 } });
    expect(r.ranking).toEqual(['tpu-int8', 'mystery']);
    expect(r.variants[0]).toMatchObject({ eligible: true, score: null });
    expect(r.variants[0]!.reason).toMatch(/no latency for rpi4-cpu \(manifest has jetson-orin-gpu\); run `edge-agent bench`/);
  });

  it('variants whose file is missing or corrupt are never picked', () => {
    const profile = probe(fx('rpi4b-bookworm'));
    const r = selectVariant({ profile, capabilities: caps(profile), variants: [fastRough, accurateSlow], selection: { alpha: 100, beta: 1 }, unavailable: { 'fast-int8': 'model file x has sha256 abc..., the manifest says def...' } });
    expect(r.selected).toBe('accurate-fp32');
    expect(r.variants[0]).toMatchObject({ eligible: false, reason: 'model file x has sha256 abc..., the manifest says def...' });
  });
});

describe('bench cache', () => {
  const dirs: string[] = [];
  afterEach(() => {
    while (dirs.length) rmSync(dirs.pop()!, { recursive: true, force: true });
  });

  it('hit (same fingerprint + sha256) replaces the estimate; miss and other fingerprints do not', () => {
    const profile = probe(fx('rpi4b-bookworm'));
    const fp = hardwareFingerprint(profile);
    const cache: BenchCache = emptyBenchCache();
    cache.entries[fp] = { [fastRough.sha256]: { variant: 'fast-int8', medianMs: 150, runs: 200, measuredAt: '2026-11-28T04:00:00Z' } };
    cache.entries.ffffffffffffffff = { [accurateSlow.sha256]: { variant: 'accurate-fp32', medianMs: 1, runs: 200, measuredAt: '2026-11-28T04:00:00Z' } };
    const r = selectVariant({ profile, capabilities: caps(profile), variants: [accurateSlow, fastRough], selection: { alpha: 100, beta: 1 }, benchCache: cache });
    const fast = r.variants.find((v) => v.name === 'fast-int8')!;
    expect(fast).toMatchObject({ latencyMs: 150, latencySource: 'measured here (bench median of 200 runs, 2026-11-28)', score: 70 - 150 });
    // accurate-fp32 has an entry only under another machine's fingerprint: the manifest estimate is used
    expect(r.variants.find((v) => v.name === 'accurate-fp32')).toMatchObject({ latencyMs: 120, latencySource: 'manifest estimate for rpi4-cpu' });
    // the measured slowness flips the choice
    expect(r.selected).toBe('accurate-fp32');
  });

  it('fingerprint: stable for the same hardware, different for another link speed or board; ignores the Coral id change', () => {
    const usb3 = probe(fx('rpi4b-coral-usb-usb3'));
    expect(hardwareFingerprint(usb3)).toBe(hardwareFingerprint(probe(fx('rpi4b-coral-usb-usb3'))));
    expect(hardwareFingerprint(usb3)).toBe(hardwareFingerprint(probe(fx('rpi4b-coral-usb-unprogrammed-usb3'))));
    expect(hardwareFingerprint(usb3)).not.toBe(hardwareFingerprint(probe(fx('rpi4b-coral-usb-usb2'))));
    expect(hardwareFingerprint(usb3)).not.toBe(hardwareFingerprint(probe(fx('rpi4b-bookworm'))));
    expect(hardwareFingerprint(usb3)).toMatch(/^[0-9a-f]{16}$/);
  });

  it('read/write round trip through an atomic file write; corrupt files are reported and ignored', () => {
    const dir = mkdtempSync(join(tmpdir(), 'edge-bench-'));
    dirs.push(dir);
    const file = benchCachePath(join(dir, 'state'));
    expect(readBenchCache(file)).toEqual(emptyBenchCache());
    recordBench(file, 'aaaa', 'sha1', { variant: 'v1', medianMs: 5, runs: 50, measuredAt: '2026-11-28T00:00:00Z' });
    recordBench(file, 'aaaa', 'sha2', { variant: 'v2', medianMs: 7, runs: 50, measuredAt: '2026-11-28T00:00:00Z' });
    const back = readBenchCache(file);
    expect(lookupBench(back, 'aaaa', 'sha1')?.medianMs).toBe(5);
    expect(lookupBench(back, 'aaaa', 'sha2')?.medianMs).toBe(7);
    expect(lookupBench(back, 'bbbb', 'sha1')).toBeUndefined();
    expect(readdirSync(join(dir, 'state'))).toEqual(['bench-cache.json']); // no temp file left behind
    expect(JSON.parse(readFileSync(file, 'utf8')).schema).toBe(1);
    writeFileSync(file, '{"schema": 1, "entr');
    const problems: string[] = [];
    expect(readBenchCache(file, (p) => problems.push(p))).toEqual(emptyBenchCache());
    expect(problems[0]).toMatch(/is unreadable .*re-run `edge-agent bench`/);
  });
});

describe('verifyWalk (verified acceleration)', () => {
  const candidates: WalkCandidate[] = [
    { name: 'tpu-int8', accelerator: 'edgetpu', expectedLatencyMs: 7 },
    { name: 'fast-int8', accelerator: 'cpu', expectedLatencyMs: 40 },
    { name: 'accurate-fp32', accelerator: 'cpu', expectedLatencyMs: 120 },
  ];

  it('first choice verifies: no degradation', async () => {
    const r = await verifyWalk(candidates, async () => ({ ok: true, latencyMs: 6.8 }));
    expect(r).toEqual({ running: 'tpu-int8', attempts: [{ name: 'tpu-int8', ok: true, latencyMs: 6.8 }], degraded: null });
  });

  it('a wrong known answer falls back, loudly', async () => {
    const r = await verifyWalk(candidates, async (c) => (c.name === 'tpu-int8' ? { ok: false, reason: 'known answer off by 0.4 at scores[17]' } : { ok: true, latencyMs: 41 }));
    expect(r.running).toBe('fast-int8');
    expect(r.degraded).toEqual({ wanted: 'tpu-int8', running: 'fast-int8', reason: 'degraded: wanted tpu-int8 (edgetpu), running fast-int8 (cpu) because tpu-int8: known answer off by 0.4 at scores[17]' });
  });

  it('a thrown error and a far-too-slow accelerator both count as failures', async () => {
    const r = await verifyWalk(candidates, async (c) => {
      if (c.name === 'tpu-int8') throw new Error('Failed to load delegate from libedgetpu.so.1');
      if (c.name === 'fast-int8') return { ok: true, latencyMs: 200 };
      return { ok: true, latencyMs: 118 };
    });
    expect(r.running).toBe('accurate-fp32');
    expect(r.attempts.map((a) => a.ok)).toEqual([false, false, true]);
    expect(r.attempts[1]!.reason).toBe('too slow: 200.0 ms measured, about 40 ms expected (over 3x)');
    expect(r.degraded!.reason).toMatch(/tpu-int8: Failed to load delegate.*fast-int8: too slow/);
  });

  it('a busy machine: a variant passed over as too slow that still measured faster than the next one runs instead', async () => {
    // fast-int8 at 130 ms is over 3x its 40 ms; accurate-fp32 at 300 ms is within 3x its 120 ms, but slower now.
    const r = await verifyWalk(candidates.slice(1), async (c) => ({ ok: true, latencyMs: c.name === 'fast-int8' ? 130 : 300 }));
    expect(r.running).toBe('fast-int8');
    expect(r.attempts.map((a) => [a.name, a.ok])).toEqual([['fast-int8', false], ['accurate-fp32', false]]);
    expect(r.degraded).toEqual({
      wanted: 'fast-int8',
      running: 'fast-int8',
      reason:
        'degraded: running fast-int8 slower than expected, the fastest variant measured now: fast-int8: too slow: 130.0 ms measured, about 40 ms expected (over 3x); accurate-fp32: slower than fast-int8 measured now: 300.0 ms against 130.0 ms',
    });
  });

  it('every variant right but slow (a busy board): the first slow one runs, marked degraded', async () => {
    const r = await verifyWalk(candidates, async (c) => {
      if (c.name === 'tpu-int8') throw new Error('Failed to load delegate from libedgetpu.so.1');
      return { ok: true, latencyMs: 10_000 };
    });
    expect(r.running).toBe('fast-int8');
    expect(r.attempts.map((a) => a.ok)).toEqual([false, false, false]);
    expect(r.degraded!.running).toBe('fast-int8');
    expect(r.degraded!.reason).toMatch(/^degraded: running fast-int8 slower than expected .*tpu-int8: Failed to load delegate.*accurate-fp32: too slow/);
  });

  it('nothing verifies: running null and the full story', async () => {
    const r = await verifyWalk(candidates, async () => ({ ok: false }));
    expect(r.running).toBeNull();
    expect(r.degraded).toEqual({ wanted: 'tpu-int8', running: null, reason: 'no variant verified: tpu-int8: known-answer check failed; fast-int8: known-answer check failed; accurate-fp32: known-answer check failed' });
    expect(await verifyWalk([], async () => ({ ok: true }))).toEqual({ running: null, attempts: [], degraded: null });
  });
});
