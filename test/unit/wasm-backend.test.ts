/** The portable ONNX backend (onnxruntime-web, WebAssembly): when it is chosen, and that it computes the demo model's known answer. */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ortBackendChoice, probeWasm, wasmCapability } from '../../drivers/inference/wasm/choice.js';
import { WasmOrtBackend } from '../../drivers/inference/wasm/backend.js';
import { loadManifest } from '../../agent/model/manifest.js';
import { checkKnownAnswer } from '../../agent/model/known-answer.js';
import { packageRoot } from '../../agent/paths.js';

describe('ONNX backend choice', () => {
  it('native where onnxruntime-node has a binding, WebAssembly for linux/arm, and the override wins', () => {
    expect(ortBackendChoice({}, 'linux', 'x64')).toEqual({ backend: 'native', reason: 'onnxruntime-node has a linux/x64 build' });
    expect(ortBackendChoice({}, 'linux', 'arm')).toEqual({ backend: 'wasm', reason: 'onnxruntime-node ships no build for linux/arm (32-bit ARM, e.g. armhf Raspberry Pi OS)' });
    expect(ortBackendChoice({}, 'linux', 'riscv64').backend).toBe('wasm');
    expect(ortBackendChoice({ EDGE_AGENT_ORT_BACKEND: 'wasm' }, 'linux', 'x64')).toEqual({ backend: 'wasm', reason: 'EDGE_AGENT_ORT_BACKEND=wasm' });
  });

  it('the WebAssembly build computes the tiny model here; doctor gets the backend and the reason', async () => {
    expect(await probeWasm()).toMatchObject({ ok: true, version: expect.stringMatching(/^1\.\d+\.\d+$/) });
    const c = await wasmCapability(ortBackendChoice({}, 'linux', 'arm'));
    expect(c!.onnxruntime).toMatchObject({ usable: true, detail: expect.stringMatching(/^onnxruntime-web 1\.\d+\.\d+, WebAssembly SIMD, 1 thread$/) });
    expect(c!.onnxruntime.providers.cuda.usable).toBe(false);
    expect(c!.note).toMatch(/^ONNX backend: WebAssembly .* because onnxruntime-node ships no build for linux\/arm/);
    expect(await wasmCapability(ortBackendChoice({}, 'linux', 'x64'))).toBeUndefined();
  });
});

describe('WasmOrtBackend', () => {
  const m = loadManifest(join(packageRoot(), 'models', 'conveyor-demo'));
  for (const name of ['student-fp32', 'student-int8']) {
    it(`${name} passes the manifest's known-answer check`, async () => {
      const v = m.variants.find((x) => x.name === name)!;
      const b = new WasmOrtBackend();
      await b.load({ file: join(m.dir, v.file), accelerator: 'cpu', threads: 1 });
      try {
        expect(b.inputs()).toEqual([{ name: 'images', dtype: 'float32', shape: [1, 3, 240, 320] }]);
        expect(b.runsIn()).toBe('main');
        const r = await checkKnownAnswer(m, v, b);
        expect(r, r.reason).toMatchObject({ ok: true });
      } finally {
        await b.close();
      }
    });
  }

  it('refuses an accelerator it cannot run and a missing file, with the fix', async () => {
    const b = new WasmOrtBackend();
    await expect(b.load({ file: join(m.dir, 'student.onnx'), accelerator: 'cuda' })).rejects.toThrow(/runs on the CPU only, not cuda/);
    await expect(b.load({ file: join(m.dir, 'nope.onnx'), accelerator: 'cpu' })).rejects.toThrow(/does not exist/);
  });
});
