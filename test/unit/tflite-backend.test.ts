import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentError } from '../../agent/errors.js';
import { TfliteBackend } from '../../drivers/inference/tflite/backend.js';
import { createEdgeTpuDelegate, loadEdgeTpuApi, parseDeviceString } from '../../drivers/inference/tflite/edgetpu.js';
import { dequantise, quantise } from '../../drivers/inference/tflite/quant.js';
import { StatefulBackend } from '../../drivers/inference/tflite/stateful.js';

const repo = resolve(__dirname, '..', '..');
const shared = resolve(repo, '..', 'shared', 'models');
const haveShared = existsSync(shared);
const blaze = join(shared, 'mediapipe-blazeface', 'face_detection_short_range.tflite');
const traffic = join(shared, 'coral-traffic-lstm', 'traffic_model.tflite');
const tmp = mkdtempSync(join(tmpdir(), 'tflite-test-'));

async function rejects(p: Promise<unknown>): Promise<AgentError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(AgentError);
    return err as AgentError;
  }
  throw new Error('expected a rejection');
}

describe('quantisation', () => {
  it('quantises with rounding and saturation, and dequantises', () => {
    const u = new Uint8Array(5);
    quantise(Float32Array.from([-1, 0, 0.5, 0.99, 5]), { scale: 1 / 128, zeroPoint: 128 }, 'uint8', u);
    expect([...u]).toEqual([0, 128, 192, 255, 255]);
    const i = new Int8Array(3);
    quantise(Float32Array.from([-10, 0.1, 10]), { scale: 0.1, zeroPoint: -3 }, 'int8', i);
    expect([...i]).toEqual([-103, -2, 97]);
    const f = new Float32Array(3);
    dequantise(Uint8Array.from([0, 128, 255]), { scale: 0.5, zeroPoint: 128 }, f);
    expect([...f]).toEqual([-64, 0, 63.5]);
  });
});

describe('Edge TPU device strings', () => {
  it('parses usb, usb:N, pci, pci:N and empty', () => {
    expect(parseDeviceString('usb')).toEqual({ type: 'usb', index: undefined });
    expect(parseDeviceString('usb:1')).toEqual({ type: 'usb', index: 1 });
    expect(parseDeviceString('pci:0')).toEqual({ type: 'pci', index: 0 });
    expect(parseDeviceString(undefined)).toEqual({});
    expect(() => parseDeviceString('usb1')).toThrow(/Edge TPU device "usb1" is not valid/);
  });
});

describe.skipIf(!haveShared)(`TFLite backend on real models${haveShared ? '' : ' (skipped: ../shared absent)'}`, () => {
  it('reports names, shapes, dtypes and quantisation parameters', async () => {
    const b = new TfliteBackend();
    await b.load({ file: traffic, accelerator: 'cpu' });
    expect(b.accelerator()).toBe('cpu');
    expect(b.inputs()).toEqual([
      { name: 'normalized_input_image_tensor', shape: [1, 256, 256, 3], dtype: 'uint8', quant: { scale: 0.0078125, zeroPoint: 128 } },
      { name: 'raw_inputs/init_lstm_c', shape: [1, 8, 8, 320], dtype: 'uint8', quant: { scale: expect.closeTo(0.02353, 5), zeroPoint: 0 } },
      { name: 'raw_inputs/init_lstm_h', shape: [1, 8, 8, 320], dtype: 'uint8', quant: { scale: expect.closeTo(0.02353, 5), zeroPoint: 0 } },
    ]);
    expect(b.outputs().map((o) => [o.name, o.shape, o.dtype])).toEqual([
      ['TFLite_Detection_PostProcess', [1, 40, 4], 'float32'],
      ['TFLite_Detection_PostProcess:1', [1, 40], 'float32'],
      ['TFLite_Detection_PostProcess:2', [1, 40], 'float32'],
      ['TFLite_Detection_PostProcess:3', [1], 'float32'],
      ['raw_outputs/lstm_c', [1, 8, 8, 320], 'uint8'],
      ['raw_outputs/lstm_h', [1, 8, 8, 320], 'uint8'],
    ]);
    await b.close();
  });

  it('quantises float inputs exactly like raw uint8 inputs and dequantises uint8 outputs', async () => {
    const b = new TfliteBackend();
    await b.load({ file: traffic, accelerator: 'cpu' });
    const pixels = new Uint8Array(256 * 256 * 3);
    for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7) % 256;
    const state = new Uint8Array(8 * 8 * 320);
    const raw = await b.run({ normalized_input_image_tensor: pixels, 'raw_inputs/init_lstm_c': state, 'raw_inputs/init_lstm_h': state });
    // The same picture as real values: (q - 128) / 128.
    const real = Float32Array.from(pixels, (q) => (q - 128) / 128);
    const viaFloat = await b.run({ normalized_input_image_tensor: real, 'raw_inputs/init_lstm_c': new Float32Array(state.length), 'raw_inputs/init_lstm_h': new Float32Array(state.length) });
    expect(viaFloat['TFLite_Detection_PostProcess:2']!.data).toEqual(raw['TFLite_Detection_PostProcess:2']!.data);
    const c = raw['raw_outputs/lstm_c']!.data;
    // Dequantised with scale 0.0235 and zero point 0: every value is a multiple of the scale in [0, 255*scale].
    const scale = b.outputs()[4]!.quant!.scale;
    expect(c.every((v) => Math.abs(v / scale - Math.round(v / scale)) < 1e-3 && v >= 0 && v <= 255 * scale + 1e-6)).toBe(true);
    await b.close();
  });

  it('resizes an input to the manifest shape (inputShapes), e.g. a batch of 2', async () => {
    const b = new TfliteBackend();
    await b.load({ file: blaze, accelerator: 'cpu', inputShapes: { input: [2, 128, 128, 3] } });
    expect(b.inputs()[0]!.shape).toEqual([2, 128, 128, 3]);
    const out = await b.run({ input: new Float32Array(2 * 128 * 128 * 3) });
    // The graph's own reshape folds the batch into N ([1, 1792, 16]); the element count is what a batch of 2 gives.
    expect(out['regressors']!.data.length).toBe(2 * 896 * 16);
    expect(out['regressors']!.dims).toEqual(b.outputs()[0]!.shape);
    await b.close();
  });

  it('rejects inputs of the wrong size or type with the tensor name', async () => {
    const b = new TfliteBackend();
    await b.load({ file: blaze, accelerator: 'cpu' });
    expect((await rejects(b.run({ input: new Float32Array(10) }))).message).toBe('input "input" needs 49152 values [1,128,128,3], got 10');
    expect((await rejects(b.run({ input: new Uint8Array(49152) }))).message).toMatch(/input "input" is float32 but got Uint8Array/);
    expect((await rejects(b.run({ wrong: new Float32Array(49152) }))).message).toMatch(/no data for model input "input"/);
    await b.close();
  });

  it('feeds the LSTM state outputs back into the state inputs (StatefulBackend)', async () => {
    const b = new StatefulBackend(new TfliteBackend(), [
      ['raw_outputs/lstm_c', 'raw_inputs/init_lstm_c'],
      ['raw_outputs/lstm_h', 'raw_inputs/init_lstm_h'],
    ]);
    await b.load({ file: traffic, accelerator: 'cpu' });
    expect(b.inputs().map((i) => i.name)).toContain('raw_inputs/init_lstm_c');
    const pixels = new Uint8Array(256 * 256 * 3).fill(90);
    const out = await b.run({ normalized_input_image_tensor: pixels });
    expect(b.stateOf('raw_inputs/init_lstm_c')).toBe(out['raw_outputs/lstm_c']!.data);
    expect(b.stateOf('raw_inputs/init_lstm_h')).toBe(out['raw_outputs/lstm_h']!.data);
    await b.close();
    const bad = new StatefulBackend(new TfliteBackend(), [['nope', 'raw_inputs/init_lstm_c']]);
    expect((await rejects(bad.load({ file: traffic, accelerator: 'cpu' }))).message).toMatch(/feedback pair \["nope", "raw_inputs\/init_lstm_c"\] does not name/);
  });

  it('a truncated file, a non-model file and a missing file each give one clear error', async () => {
    const truncated = join(tmp, 'truncated.tflite');
    writeFileSync(truncated, readFileSync(blaze).subarray(0, 5000));
    const e1 = await rejects(new TfliteBackend().load({ file: truncated, accelerator: 'cpu' }));
    expect(e1.code).toBe('MODEL_INVALID');
    expect(e1.message).toBe(`${truncated} is not a valid TFLite model (The model is not a valid Flatbuffer buffer; truncated or corrupt?)`);
    const text = join(tmp, 'notes.tflite');
    writeFileSync(text, 'this is not a model\n');
    const e2 = await rejects(new TfliteBackend().load({ file: text, accelerator: 'cpu' }));
    expect(e2.message).toMatch(/is not a TFLite model \(no "TFL3" flatbuffer identifier\)/);
    const e3 = await rejects(new TfliteBackend().load({ file: join(tmp, 'absent.tflite'), accelerator: 'cpu' }));
    expect(e3.code).toBe('MODEL_NOT_FOUND');
  });

  /**
   * A real flatbuffer whose custom op is renamed (edgetpu_compiler emits one custom op "edgetpu-custom-op"):
   * every length-prefixed "TFLite_Detection_PostProcess" string is rewritten in place to a shorter name.
   */
  function renameCustomOp(name: string, file: string): void {
    const buf = Buffer.from(readFileSync(traffic));
    const from = Buffer.from('TFLite_Detection_PostProcess');
    const to = Buffer.from(`${name}\0`);
    let n = 0;
    for (let at = buf.indexOf(from); at >= 0; at = buf.indexOf(from, at + 1)) {
      if (buf.readUInt32LE(at - 4) !== from.length) continue;
      buf.writeUInt32LE(to.length - 1, at - 4);
      to.copy(buf, at);
      n++;
    }
    expect(n).toBeGreaterThan(0);
    writeFileSync(file, buf);
  }

  it('an op the runtime does not have: MODEL_INVALID naming it', async () => {
    const file = join(tmp, 'custom_op.tflite');
    renameCustomOp('MyVendorNms', file);
    const err = await rejects(new TfliteBackend().load({ file, accelerator: 'cpu' }));
    expect(err.code).toBe('MODEL_INVALID');
    expect(err.message).toMatch(/custom_op\.tflite uses an op the TFLite runtime 2\.9\.0 cannot run: .*MyVendorNms/);
  });

  it('an Edge TPU model on the CPU fails with the custom-op error turned into a clear message', async () => {
    const file = join(tmp, 'traffic_model_edgetpu.tflite');
    renameCustomOp('edgetpu-custom-op', file);
    const err = await rejects(new TfliteBackend().load({ file, accelerator: 'cpu' }));
    expect(err.code).toBe('BACKEND_UNAVAILABLE');
    expect(err.oneLine()).toBe(
      `${file} is compiled for the Edge TPU (edgetpu-custom-op) and cannot run on the CPU: run it with accelerator edgetpu on a machine with a Coral (libedgetpu1-std installed), or use the model's CPU variant (the .tflite without _edgetpu)`,
    );
  });

  it('Edge TPU wanted without libedgetpu: BACKEND_UNAVAILABLE with the install fix', async () => {
    const prev = process.env.EDGE_AGENT_EDGETPU_LIB;
    process.env.EDGE_AGENT_EDGETPU_LIB = join(tmp, 'no-such-libedgetpu.so.1');
    try {
      const err = await rejects(new TfliteBackend().load({ file: blaze, accelerator: 'edgetpu', device: 'usb' }));
      expect(err.code).toBe('BACKEND_UNAVAILABLE');
      expect(err.message).toMatch(/^Edge TPU runtime .*no-such-libedgetpu\.so\.1 cannot be loaded/);
      expect(err.fix).toMatch(/apt-get install libedgetpu1-std/);
    } finally {
      if (prev === undefined) delete process.env.EDGE_AGENT_EDGETPU_LIB;
      else process.env.EDGE_AGENT_EDGETPU_LIB = prev;
    }
  });
});

const haveGcc = spawnSync('sh', ['-c', 'command -v gcc'], { stdio: 'ignore' }).status === 0;

describe.skipIf(!haveGcc)(`Edge TPU delegate against a libedgetpu stand-in with the real C ABI${haveGcc ? '' : ' (skipped: gcc absent)'}`, () => {
  const lib = join(tmp, 'libedgetpu.so.1');
  const log = join(tmp, 'edgetpu.log');
  beforeAll(() => {
    execFileSync('gcc', ['-shared', '-fPIC', '-o', lib, join(repo, 'test/fixtures/models/fake-libedgetpu/fake_edgetpu.c')]);
    process.env.FAKE_EDGETPU_LOG = log;
  });
  afterAll(() => {
    delete process.env.FAKE_EDGETPU_DEVICES;
    delete process.env.FAKE_EDGETPU_LOG;
  });

  it('lists devices through edgetpu_list_devices and reports none found', () => {
    const api = loadEdgeTpuApi({ EDGE_AGENT_EDGETPU_LIB: lib });
    expect(api.version).toBe('fake-edgetpu (test stand-in, no device)');
    process.env.FAKE_EDGETPU_DEVICES = '';
    expect(api.listDevices()).toEqual([]);
    expect(() => createEdgeTpuDelegate(api, 'usb')).toThrow(/no Edge TPU found/);
    process.env.FAKE_EDGETPU_DEVICES = 'usb:/sys/bus/usb/devices/2-1,pci:/dev/apex_0,usb:/sys/bus/usb/devices/4-2';
    expect(api.listDevices()).toEqual([
      { type: 'usb', path: '/sys/bus/usb/devices/2-1' },
      { type: 'pci', path: '/dev/apex_0' },
      { type: 'usb', path: '/sys/bus/usb/devices/4-2' },
    ]);
  });

  it('opens usb:N / pci:N by index among devices of that type; a NULL delegate is a clear error', () => {
    const api = loadEdgeTpuApi({ EDGE_AGENT_EDGETPU_LIB: lib });
    process.env.FAKE_EDGETPU_DEVICES = 'usb:/sys/bus/usb/devices/2-1,pci:/dev/apex_0,usb:/sys/bus/usb/devices/4-2';
    writeFileSync(log, '');
    expect(() => createEdgeTpuDelegate(api, 'usb:1')).toThrow(/Edge TPU usb \/sys\/bus\/usb\/devices\/4-2 could not be opened/);
    expect(() => createEdgeTpuDelegate(api, 'pci')).toThrow(/Edge TPU pci \/dev\/apex_0 could not be opened/);
    expect(() => createEdgeTpuDelegate(api, 'pci:1')).toThrow(/Edge TPU "pci:1" not found: present usb \/sys\/bus\/usb\/devices\/2-1, pci \/dev\/apex_0, usb/);
    // EDGETPU_APEX_USB = 1, EDGETPU_APEX_PCI = 0 (edgetpu_c.h)
    expect(readFileSync(log, 'utf8')).toBe('create type=1 name=/sys/bus/usb/devices/4-2 options=0\ncreate type=0 name=/dev/apex_0 options=0\n');
  });
});
