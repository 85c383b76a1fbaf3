import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectCapabilities, realLoadLibrary, realOrtProbe } from '../../drivers/probe/capabilities.js';
import { probe } from '../../drivers/probe/probe.js';
import { dynamicJPerGflop, energyPerInferenceJ, powerClassOf, powerTable, acceleratorPowerClass } from '../../drivers/probe/power.js';

const repo = resolve(__dirname, '../..');
const fx = (name: string) => resolve(repo, 'test/fixtures/sysroots', name);

describe('capabilities on this machine (real onnxruntime-node, real koffi dlopen)', () => {
  it('ORT CPU computes the known answer; asking for cuda/tensorrt is a hard error, recorded with its text', async () => {
    const ort = await realOrtProbe();
    expect(ort.ok).toBe(true);
    if (!ort.ok) return;
    expect(ort.version).toMatch(/^1\.\d+\.\d+/);
    expect(ort.providers.cpu).toEqual({ usable: true, detail: 'session created and computed the known answer' });
    // This npm build has no CUDA/TensorRT provider libraries: session creation throws (no silent CPU fallback).
    expect(ort.providers.cuda.usable).toBe(false);
    expect(ort.providers.cuda.reason).toMatch(/Cuda|CUDA|cuda/);
    expect(ort.providers.tensorrt.usable).toBe(false);
  });

  it('a provider that crashes the probe process is named, and the other providers still get their answer', async () => {
    // A stand-in module at the lowest boundary: its cuda session creation kills the process like a broken
    // GPU driver would; the real onnxruntime-node cannot be made to do that here.
    const dir = mkdtempSync(join(tmpdir(), 'edge-ort-'));
    const fake = join(dir, 'fake-ort.cjs');
    writeFileSync(fake, `module.exports = {
      env: { versions: { node: '9.9.9' } },
      Tensor: class { constructor(t, d, s) { this.data = d; } },
      InferenceSession: { create: async (m, o) => {
        if (o.executionProviders[0] === 'cuda') process.kill(process.pid, 'SIGSEGV');
        return { run: async (f) => ({ y: { data: f.x.data.map((v) => v * 2) } }), release: async () => {} };
      } },
    };`);
    try {
      const r = await realOrtProbe({ ortPath: fake });
      expect(r).toEqual({
        ok: true,
        version: '9.9.9',
        providers: {
          cpu: { usable: true, detail: 'session created and computed the known answer' },
          cuda: { usable: false, reason: 'trying the cuda provider crashed (SIGSEGV)' },
          tensorrt: { usable: true, detail: 'session created and computed the known answer' },
        },
      });
      const missing = await realOrtProbe({ ortPath: join(dir, 'nope.cjs') });
      expect(missing.ok).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the bundled TFLite C library loads and reports its version; libedgetpu is absent here', () => {
    const dir = process.arch === 'arm64' ? 'linux_arm64' : 'linux_amd64';
    const tfl = realLoadLibrary([resolve(repo, `node_modules/tfjs-tflite-node/cc_deps/${dir}/libtensorflowlite_c.so`)], 'TfLiteVersion');
    expect(tfl).toMatchObject({ ok: true, version: expect.stringMatching(/^2\.\d+/) });
    const etpu = realLoadLibrary(['libedgetpu.so.1']);
    expect(etpu.ok).toBe(false);
    const missing = realLoadLibrary(['/nonexistent/libfoo.so']);
    expect(missing).toEqual({ ok: false, error: '/nonexistent/libfoo.so does not exist', tried: ['/nonexistent/libfoo.so'] });
  });

  it('a Coral fixture profile with libedgetpu missing here: edgetpu not usable, with the install fix', async () => {
    const caps = await detectCapabilities(probe(fx('rpi4b-coral-usb-usb3')), { packageRoot: repo });
    expect(caps.onnxruntime.usable).toBe(true);
    expect(caps.tflite.usable).toBe(true);
    expect(caps.accelerators.edgetpu).toEqual({
      usable: false,
      reason: 'needs edgetpu: Coral USB Accelerator found, but libedgetpu.so.1 not found (install libedgetpu1-std from the Coral apt repo)',
    });
    expect(caps.notes.join(' ')).toMatch(/linux\/arm64 is CPU-only/);
    expect(caps.notes.join(' ')).toMatch(/devices come from the sysroot/);
  });
});

describe('capabilities with injected probes (the seam for machine-independent selection tests)', () => {
  const fakeOrt = (cuda: boolean) => async () => ({
    ok: true as const,
    version: '1.30.0',
    providers: {
      cpu: { usable: true },
      cuda: cuda ? { usable: true } : { usable: false, reason: 'Failed to load shared library' },
      tensorrt: cuda ? { usable: true } : { usable: false, reason: 'Failed to load shared library' },
    },
  });
  const libs = (present: string[]) => (candidates: string[]) => {
    const hit = candidates.find((c) => present.some((p) => c.endsWith(p)));
    return hit ? { ok: true as const, path: hit } : { ok: false as const, error: 'not found', tried: candidates };
  };

  it('Edge TPU usable when the device is present AND libedgetpu AND TFLite load', async () => {
    const caps = await detectCapabilities(probe(fx('x86-coral-m2')), { probes: { onnxruntime: fakeOrt(false), loadLibrary: libs(['libedgetpu.so.1', 'libtensorflowlite_c.so']) } });
    expect(caps.accelerators.edgetpu).toMatchObject({ usable: true });
    expect(caps.accelerators.edgetpu.detail).toMatch(/apex_0/);
  });

  it('Edge TPU library present but no device: not usable, says no Edge TPU found', async () => {
    const caps = await detectCapabilities(probe(fx('x86_64-pc')), { probes: { onnxruntime: fakeOrt(false), loadLibrary: libs(['libedgetpu.so.1', 'libtensorflowlite_c.so']) } });
    expect(caps.accelerators.edgetpu.reason).toMatch(/no Edge TPU found/);
  });

  it('Jetson GPU present but a CPU-only ORT build: cuda not usable and the reason names both', async () => {
    const caps = await detectCapabilities(probe(fx('jetson-orin-nano-jp6')), { nodeArch: 'arm64', probes: { onnxruntime: fakeOrt(false), loadLibrary: libs([]) } });
    expect(caps.accelerators.cuda.reason).toBe('needs cuda: NVIDIA Tegra integrated GPU (Ampere) found, but this onnxruntime-node build has no cuda provider (Failed to load shared library)');
    expect(caps.tflite.usable).toBe(false);
    expect(caps.tflite.reason).toMatch(/EDGE_AGENT_TFLITE_LIB/);
    const gpuBuild = await detectCapabilities(probe(fx('jetson-orin-nano-jp6')), { nodeArch: 'arm64', probes: { onnxruntime: fakeOrt(true), loadLibrary: libs([]) } });
    expect(gpuBuild.accelerators.cuda.usable).toBe(true);
    expect(gpuBuild.accelerators.tensorrt.usable).toBe(true);
  });

  it('onnxruntime-node failing to load makes every provider unusable with the reason', async () => {
    const caps = await detectCapabilities(probe(fx('x86_64-pc')), { probes: { onnxruntime: async () => { throw new Error('libonnxruntime.so.1: cannot open shared object file'); }, loadLibrary: libs([]) } });
    expect(caps.onnxruntime.usable).toBe(false);
    expect(caps.onnxruntime.reason).toMatch(/cannot open shared object file/);
  });
});

describe('energy table', () => {
  it('E = P_static*t + P_dynamic*FLOPs with the documented conversion', () => {
    const pi4 = powerTable.rpi4;
    const jPerGflop = (6.4 - 2.7) / 12;
    expect(dynamicJPerGflop(pi4)).toBeCloseTo(jPerGflop, 10);
    // 100 ms, 1.6 GFLOP on a Pi 4
    expect(energyPerInferenceJ('rpi4', 100, 1.6e9)).toBeCloseTo(2.7 * 0.1 + jPerGflop * 1.6, 10);
    // With a Coral: the host idles, the TPU does the work
    expect(energyPerInferenceJ('rpi4', 7, 1.6e9, 'coral-usb')).toBeCloseTo((2.7 + 0.5) * 0.007 + (2.0 / 4000) * 1.6, 10);
    expect(energyPerInferenceJ('rpi4', 7, 1.6e9, 'coral-usb')).toBeLessThan(energyPerInferenceJ('rpi4', 100, 1.6e9));
  });

  it('every row cites a source and is physically sane', () => {
    for (const e of Object.values(powerTable)) {
      expect(e.source.length).toBeGreaterThan(20);
      expect(e.fullLoadW).toBeGreaterThan(e.staticW);
      expect(e.sustainedGflops).toBeGreaterThan(0);
    }
  });

  it('power classes of probed boards and accelerators', () => {
    expect(powerClassOf(probe(fx('rpi5-bookworm')))).toBe('rpi5');
    expect(powerClassOf(probe(fx('jetson-orin-nano-jp6')))).toBe('jetson-orin-nano');
    expect(acceleratorPowerClass(probe(fx('rpi4b-coral-usb-usb2')), 'edgetpu')).toBe('coral-usb');
    expect(acceleratorPowerClass(probe(fx('x86-coral-m2')), 'edgetpu')).toBe('coral-pcie');
    expect(acceleratorPowerClass(probe(fx('x86-coral-m2')), 'cpu')).toBeUndefined();
  });
});
