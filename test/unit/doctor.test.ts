import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';

/**
 * Spawns the built CLI (`npm run build` first): `edge-agent doctor --json --sysroot <fixture>` must report the
 * right board and accelerators for every real-board fixture. Runtimes are this machine's (ONNX Runtime CPU,
 * bundled TFLite, no libedgetpu, no CUDA provider), so the selection expectations are for this machine.
 */
const repo = resolve(__dirname, '../..');
const bin = resolve(repo, 'bin/edge-agent.js');
const manifest = resolve(repo, 'test/fixtures/select/conveyor-variants/manifest.json');
const run = promisify(execFile);

interface Doctor {
  board: { family: string; model: string; boardClass: string; l4t?: string; jetpack?: string };
  accelerators: Array<{ kind: string; bus: string | null; usbSpeedMbps?: number; warnings: string[]; state?: string }>;
  variants: Array<{ name: string; eligible: boolean; score: number | null; reason: string }>;
  selected: string | null;
  capabilities: { accelerators: Record<string, { usable: boolean; reason?: string }> };
  cpu: { arch: string; cores: number };
  memory: { totalMB: number | null };
  thermal: { zones: unknown[] };
  problems: string[];
}

async function doctor(...args: string[]): Promise<Doctor> {
  const { stdout } = await run(process.execPath, [bin, 'doctor', '--json', '--model', manifest, '--state-dir', resolve(repo, 'test/fixtures/select/no-state'), ...args], { timeout: 30_000 });
  return JSON.parse(stdout) as Doctor;
}

const cases: Array<{ fixture: string; family: string; model: string; accelerators: string[]; extra?: (d: Doctor) => void }> = [
  { fixture: 'rpi4b-bookworm', family: 'raspberry-pi', model: 'Raspberry Pi 4 Model B Rev 1.1', accelerators: ['cpu/null'] },
  { fixture: 'rpi5-bookworm', family: 'raspberry-pi', model: 'Raspberry Pi 5 Model B Rev 1.0', accelerators: ['cpu/null'] },
  {
    fixture: 'rpi-zero2w-bookworm', family: 'raspberry-pi', model: 'Raspberry Pi Zero 2 W Rev 1.0', accelerators: ['cpu/null'],
    extra: (d) => expect(d.variants.find((v) => v.name === 'cpu-fp32')!.reason).toBe('needs 350 MB of memory, 295 MB available'),
  },
  {
    fixture: 'jetson-nano-jp4', family: 'jetson', model: 'NVIDIA Jetson Nano Developer Kit', accelerators: ['cpu/null', 'cuda/soc'],
    extra: (d) => {
      expect(d.board).toMatchObject({ l4t: '32.7.1', jetpack: '4.6.1' });
      expect(d.variants.find((v) => v.name === 'cuda-fp16')!.reason).toMatch(/^needs cuda: NVIDIA Tegra integrated GPU \(Maxwell\) found, but this onnxruntime-node build has no cuda provider/);
    },
  },
  { fixture: 'jetson-orin-nano-jp6', family: 'jetson', model: 'NVIDIA Jetson Orin Nano Developer Kit', accelerators: ['cpu/null', 'cuda/soc'], extra: (d) => expect(d.board.jetpack).toBe('6.0') },
  {
    fixture: 'rpi4b-coral-usb-unprogrammed-usb3', family: 'raspberry-pi', model: 'Raspberry Pi 4 Model B Rev 1.1', accelerators: ['cpu/null', 'edgetpu/usb/5000'],
    extra: (d) => expect(d.accelerators[1]!.state).toBe('needs-firmware'),
  },
  {
    fixture: 'rpi4b-coral-usb-usb3', family: 'raspberry-pi', model: 'Raspberry Pi 4 Model B Rev 1.1', accelerators: ['cpu/null', 'edgetpu/usb/5000'],
    extra: (d) => {
      expect(d.accelerators[1]!.warnings).toEqual([]);
      expect(d.variants.find((v) => v.name === 'edgetpu-int8')!.reason).toBe(
        'needs edgetpu: Coral USB Accelerator found, but libedgetpu.so.1 not found (install libedgetpu1-std from the Coral apt repo)',
      );
    },
  },
  {
    fixture: 'rpi4b-coral-usb-usb2', family: 'raspberry-pi', model: 'Raspberry Pi 4 Model B Rev 1.1', accelerators: ['cpu/null', 'edgetpu/usb/480'],
    extra: (d) => expect(d.accelerators[1]!.warnings.join(' ')).toMatch(/USB 2.*3x slower/),
  },
  { fixture: 'x86-coral-m2', family: 'generic', model: 'generic x86_64 PC', accelerators: ['cpu/null', 'edgetpu/pcie'] },
  { fixture: 'coral-devboard', family: 'coral-devboard', model: 'Freescale i.MX8MQ Phanbell', accelerators: ['cpu/null', 'edgetpu/pcie'] },
  { fixture: 'x86_64-pc', family: 'generic', model: 'generic x86_64 PC', accelerators: ['cpu/null'] },
];

describe('edge-agent doctor (built CLI)', () => {
  beforeAll(() => {
    if (!existsSync(resolve(repo, 'dist/agent/cli/commands/doctor.js'))) throw new Error('dist/ is not built: run `npm run build` before this test');
  });

  it.concurrent.each(cases)('--sysroot $fixture: board $family, accelerators $accelerators', async (c) => {
    const d = await doctor('--sysroot', resolve(repo, 'test/fixtures/sysroots', c.fixture));
    expect(d.board.family).toBe(c.family);
    expect(d.board.model).toBe(c.model);
    expect(d.accelerators.map((a) => [a.kind, String(a.bus), a.usbSpeedMbps].filter((x) => x !== undefined).join('/'))).toEqual(c.accelerators);
    expect(d.problems).toEqual([]);
    // On this machine only ONNX Runtime CPU and the bundled TFLite run: the int8 CPU variant wins everywhere,
    // and the Edge TPU / CUDA variants are rejected with a reason rather than chosen.
    expect(d.selected).toBe('cpu-int8');
    for (const v of d.variants) expect(v.reason.length).toBeGreaterThan(10);
    expect(d.variants.find((v) => v.name === 'edgetpu-int8')!.eligible).toBe(false);
    c.extra?.(d);
  });

  it('on this machine, in text: explains why the CPU variant was chosen and why the others lost', async () => {
    const { stdout } = await run(process.execPath, [bin, 'doctor', '--model', manifest, '--state-dir', resolve(repo, 'test/fixtures/select/no-state')]);
    expect(stdout).toMatch(/\* cpu-int8 .*chosen: highest utility, U = 100\*0\.79 - 1\*7\.0 ms = 72\.0/);
    expect(stdout).toMatch(/\+ cpu-fp32 .*lower utility 70\.0 < 72\.0 \(cpu-int8\)/);
    expect(stdout).toMatch(/provider cuda +no: .*Failed to load shared library/);
    expect(stdout).toMatch(/Selected: cpu-int8 \(onnxruntime\/cpu\), utility 72\.0; fallbacks in order: cpu-fp32, tflite-int8/);
  });

  it('bad input: one line and a sysexits status', async () => {
    const bad = await run(process.execPath, [bin, 'doctor', '--sysroot', '/nonexistent/board']).catch((e: { code: number; stderr: string }) => e);
    expect(bad).toMatchObject({ code: 64 });
    expect((bad as { stderr: string }).stderr).toBe('edge-agent: --sysroot /nonexistent/board is not a folder: give the folder that holds proc/, sys/, dev/ and etc/ of the board\n');
    const noModel = await run(process.execPath, [bin, 'doctor', '--model', '/nonexistent/model']).catch((e: { code: number; stderr: string }) => e);
    expect(noModel).toMatchObject({ code: 66 });
    expect((noModel as { stderr: string }).stderr.trim().split('\n')).toHaveLength(1);
  });
});
