import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { probe } from '../../drivers/probe/probe.js';
import { jetpackFor, matchBoard, parseL4tRelease, splitDtStrings } from '../../drivers/probe/board.js';
import { parseCpuinfo } from '../../drivers/probe/cpu.js';
import { decodeThrottled } from '../../drivers/probe/thermal.js';

const fixtures = resolve(__dirname, '../fixtures/sysroots');
const fx = (name: string) => join(fixtures, name);

const temps: string[] = [];
function sysroot(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'edge-probe-'));
  temps.push(root);
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), content, 'latin1');
  }
  return root;
}
afterEach(() => {
  while (temps.length) rmSync(temps.pop()!, { recursive: true, force: true });
});

describe('probe on real-board fixtures', () => {
  it('Raspberry Pi 4B (bookworm): model, SoC, Cortex-A72 x4, NEON, meminfo, thermal, firmware throttle word', () => {
    const p = probe(fx('rpi4b-bookworm'));
    expect(p.board).toMatchObject({ family: 'raspberry-pi', model: 'Raspberry Pi 4 Model B Rev 1.1', boardClass: 'rpi4', soc: 'BCM2711', revision: 'c03111' });
    expect(p.board.compatible).toEqual(['raspberrypi,4-model-b', 'brcm,bcm2711']);
    expect(p.cpu).toEqual({ arch: 'aarch64', cores: 4, modelName: 'Cortex-A72', features: ['neon', 'asimd'] });
    expect(p.memory).toEqual({ totalMB: 3791, availableMB: 3332 });
    expect(p.thermal.zones).toEqual([{ zone: 'thermal_zone0', type: 'cpu-thermal', tempC: 48.7 }]);
    expect(p.thermal.throttled).toMatchObject({ raw: 0, source: 'sysfs', active: [] });
    expect(p.accelerators).toEqual([{ kind: 'cpu', bus: null, name: 'Cortex-A72 x4 (aarch64)', warnings: [] }]);
    expect(p.problems).toEqual([]);
  });

  it('Raspberry Pi 5: Cortex-A76 with dot-product (asimddp)', () => {
    const p = probe(fx('rpi5-bookworm'));
    expect(p.board).toMatchObject({ family: 'raspberry-pi', boardClass: 'rpi5', soc: 'BCM2712', model: 'Raspberry Pi 5 Model B Rev 1.0' });
    expect(p.cpu.modelName).toBe('Cortex-A76');
    expect(p.cpu.features).toEqual(expect.arrayContaining(['neon', 'asimd', 'asimddp', 'asimdhp']));
  });

  it('Raspberry Pi Zero 2 W: Cortex-A53, 416 MB', () => {
    const p = probe(fx('rpi-zero2w-bookworm'));
    expect(p.board).toMatchObject({ family: 'raspberry-pi', boardClass: 'rpi-zero2', model: 'Raspberry Pi Zero 2 W Rev 1.0' });
    expect(p.cpu).toMatchObject({ modelName: 'Cortex-A53', cores: 4 });
    expect(p.memory.totalMB).toBe(416);
  });

  it('Jetson Nano JetPack 4: L4T 32.7.1 -> JetPack 4.6.1, Maxwell GPU with CUDA 10.2 and TensorRT 8.2.1', () => {
    const p = probe(fx('jetson-nano-jp4'));
    expect(p.board).toMatchObject({ family: 'jetson', boardClass: 'jetson-nano', model: 'NVIDIA Jetson Nano Developer Kit', soc: 'tegra210', l4t: '32.7.1', jetpack: '4.6.1' });
    expect(p.cpu.modelName).toBe('Cortex-A57'); // the kernel's generic "ARMv8 Processor rev 1 (v8l)" is replaced by the core name
    const gpu = p.accelerators.find((a) => a.kind === 'cuda');
    expect(gpu).toMatchObject({ bus: 'soc', device: '/dev/nvhost-ctrl-gpu', libraries: { cuda: '10.2.300', tensorrt: '8.2.1' }, warnings: [] });
    expect(p.thermal.zones.map((z) => z.type)).toContain('GPU-therm');
  });

  it('Jetson Orin Nano JetPack 6: L4T 36.3.0 -> JetPack 6.0, Ampere GPU via /dev/nvgpu', () => {
    const p = probe(fx('jetson-orin-nano-jp6'));
    expect(p.board).toMatchObject({ family: 'jetson', boardClass: 'jetson-orin', l4t: '36.3.0', jetpack: '6.0', soc: 'tegra234' });
    expect(p.cpu).toMatchObject({ cores: 6, modelName: 'Cortex-A78AE' });
    expect(p.accelerators.map((a) => [a.kind, a.bus])).toEqual([['cpu', null], ['cuda', 'soc']]);
    expect(p.accelerators[1]!.libraries).toEqual({ cuda: '12.2.140', tensorrt: '8.6.2' });
  });

  it('Coral USB before firmware load (1a6e:089a) on a USB 3 port', () => {
    const p = probe(fx('rpi4b-coral-usb-unprogrammed-usb3'));
    const tpu = p.accelerators.find((a) => a.kind === 'edgetpu')!;
    expect(tpu).toMatchObject({ bus: 'usb', id: '1a6e:089a', usbSpeedMbps: 5000, state: 'needs-firmware', path: '/sys/bus/usb/devices/2-1' });
    expect(tpu.warnings).toHaveLength(1);
    expect(tpu.warnings[0]).toMatch(/re-enumerates as 18d1:9302/);
  });

  it('Coral USB after firmware load (18d1:9302) on USB 3: no warnings', () => {
    const p = probe(fx('rpi4b-coral-usb-usb3'));
    expect(p.accelerators.filter((a) => a.kind === 'edgetpu')).toEqual([
      { kind: 'edgetpu', bus: 'usb', name: 'Coral USB Accelerator', id: '18d1:9302', path: '/sys/bus/usb/devices/2-1', state: 'ready', usbSpeedMbps: 5000, warnings: [] },
    ]);
  });

  it('Coral USB on a USB 2 port (480 Mb/s) behind the VL805 hub: warns about ~3x slower; throttle history decoded', () => {
    const p = probe(fx('rpi4b-coral-usb-usb2'));
    const tpu = p.accelerators.find((a) => a.kind === 'edgetpu')!;
    expect(tpu).toMatchObject({ usbSpeedMbps: 480, path: '/sys/bus/usb/devices/1-1.3' });
    expect(tpu.warnings.join(' ')).toMatch(/480 Mb\/s \(USB 2\).*3x slower/);
    expect(p.thermal.throttled).toMatchObject({ raw: 0x50000, active: ['under-voltage since boot', 'throttled since boot'] });
    expect(p.thermal.throttled!.now.underVoltage).toBe(false);
  });

  it('x86 PC with a Coral M.2 card: apex_0 on PCIe, id from sysfs, temperature in °C', () => {
    const p = probe(fx('x86-coral-m2'));
    expect(p.board).toMatchObject({ family: 'generic', boardClass: 'x86_64' });
    expect(p.cpu.features).toEqual(expect.arrayContaining(['avx2', 'fma']));
    expect(p.accelerators.find((a) => a.kind === 'edgetpu')).toEqual({
      kind: 'edgetpu', bus: 'pcie', name: 'Coral M.2/PCIe Accelerator (apex_0)', id: '1ac1:089a', device: '/dev/apex_0', path: '/sys/class/apex/apex_0', state: 'ready', tempC: 44.6, warnings: [],
    });
  });

  it('Coral Dev Board: Phanbell model, Cortex-A53, built-in Edge TPU on PCIe', () => {
    const p = probe(fx('coral-devboard'));
    expect(p.board).toMatchObject({ family: 'coral-devboard', model: 'Freescale i.MX8MQ Phanbell', soc: 'i.MX8MQ' });
    expect(p.accelerators.map((a) => `${a.kind}/${a.bus}`)).toEqual(['cpu/null', 'edgetpu/pcie']);
    expect(p.accelerators[1]!.name).toBe('Coral Dev Board Edge TPU (apex_0)');
  });

  it('plain x86_64 PC: generic board, only the CPU', () => {
    const p = probe(fx('x86_64-pc'), { unameM: 'x86_64' });
    expect(p.board).toMatchObject({ family: 'generic', model: 'generic x86_64 PC' });
    expect(p.accelerators.map((a) => a.kind)).toEqual(['cpu']);
    expect(p.thermal.zones).toEqual([]);
  });
});

describe('probe on broken or partial sysroots', () => {
  it('a sysroot that does not exist: never throws, a generic profile plus problems', () => {
    const p = probe('/nonexistent/edge-agent-sysroot');
    expect(p.board.family).toBe('generic');
    expect(p.accelerators.map((a) => a.kind)).toEqual(['cpu']);
    expect(p.problems).toEqual(expect.arrayContaining([expect.stringMatching(/not a readable folder/), expect.stringMatching(/no \/proc\/cpuinfo/), expect.stringMatching(/no \/proc\/meminfo/)]));
  });

  it('garbage /proc/cpuinfo: reported, the board and Coral are still found', () => {
    const root = sysroot({
      'proc/cpuinfo': '\u0000\u0001binary junk\nnot a key value line\n',
      'proc/device-tree/model': 'Raspberry Pi 4 Model B Rev 1.4\0',
      'sys/bus/usb/devices/2-2/idVendor': '18d1\n',
      'sys/bus/usb/devices/2-2/idProduct': '9302\n',
      'sys/bus/usb/devices/2-2/speed': '5000\n',
    });
    const p = probe(root);
    expect(p.problems).toEqual(expect.arrayContaining([expect.stringMatching(/cpuinfo has no "processor"/)]));
    expect(p.cpu).toMatchObject({ cores: 0, modelName: 'unknown', arch: 'unknown' });
    expect(p.board).toMatchObject({ family: 'raspberry-pi', boardClass: 'rpi4' });
    expect(p.accelerators.map((a) => a.kind)).toEqual(['cpu', 'edgetpu']);
  });

  it('an unreadable file (EISDIR) is a problem, not a crash; cores fall back to /sys/devices/system/cpu/online', () => {
    const root = sysroot({ 'proc/cpuinfo/oops': 'x', 'sys/devices/system/cpu/online': '0-3\n' });
    const p = probe(root, { unameM: 'aarch64' });
    expect(p.problems).toEqual(expect.arrayContaining([expect.stringMatching(/cannot read \/proc\/cpuinfo: EISDIR/)]));
    expect(p.cpu).toMatchObject({ arch: 'aarch64', cores: 4 });
    expect(p.board).toMatchObject({ family: 'generic', boardClass: 'aarch64' });
  });

  it('a garbled nv_tegra_release and a Jetson without GPU nodes are reported', () => {
    const root = sysroot({ 'etc/nv_tegra_release': 'a line nobody wrote\n', 'proc/device-tree/compatible': 'nvidia,p3768-0000+p3767-0005\0nvidia,tegra234\0' });
    const p = probe(root);
    expect(p.board).toMatchObject({ family: 'jetson', boardClass: 'jetson-orin' });
    expect(p.board.l4t).toBeUndefined();
    expect(p.problems.join('\n')).toMatch(/nv_tegra_release does not start with/);
    expect(p.problems.join('\n')).toMatch(/no GPU device node/);
  });

  it('Coral PCIe card with no driver loaded: found from the PCI id, marked driver-missing with the fix', () => {
    const root = sysroot({ 'sys/bus/pci/devices/0000:03:00.0/vendor': '0x1ac1\n', 'sys/bus/pci/devices/0000:03:00.0/device': '0x089a\n' });
    const [, tpu] = probe(root).accelerators;
    expect(tpu).toMatchObject({ kind: 'edgetpu', bus: 'pcie', state: 'driver-missing', id: '1ac1:089a' });
    expect(tpu!.warnings[0]).toMatch(/gasket\/apex driver is not loaded/);
  });

  it('a hot Edge TPU (>= 85 °C) warns that the driver throttles', () => {
    const root = sysroot({ 'dev/apex_0': '', 'sys/class/apex/apex_0/temp': '87250\n' });
    const tpu = probe(root).accelerators[1]!;
    expect(tpu.tempC).toBe(87.3);
    expect(tpu.warnings.join(' ')).toMatch(/throttles its clock from 85 °C/);
  });

  it('the rpi_volt hwmon under-voltage alarm is found by name, not by hwmon index', () => {
    const root = sysroot({
      'sys/class/hwmon/hwmon0/name': 'cpu_thermal\n',
      'sys/class/hwmon/hwmon3/name': 'rpi_volt\n',
      'sys/class/hwmon/hwmon3/in0_lcrit_alarm': '1\n',
    });
    const p = probe(root);
    expect(p.thermal.underVoltageAlarm).toBe(true);
    expect(p.accelerators[0]!.warnings.join(' ')).toMatch(/under-voltage now/);
    expect(probe(fx('rpi4b-bookworm')).thermal.underVoltageAlarm).toBeUndefined();
  });

  it('vcgencmd output wins over sysfs; current under-voltage warns on the CPU', () => {
    const p = probe(fx('rpi4b-bookworm'), { vcgencmdGetThrottled: 'throttled=0x50005\n' });
    expect(p.thermal.throttled).toMatchObject({ source: 'vcgencmd', raw: 0x50005, active: ['under-voltage now', 'throttled now'] });
    expect(p.accelerators[0]!.warnings.join(' ')).toMatch(/under-voltage now/);
    const bad = probe(fx('rpi4b-bookworm'), { vcgencmdGetThrottled: 'VCHI initialization failed' });
    expect(bad.problems.join(' ')).toMatch(/expected "throttled=0x\.\.\."/);
    expect(bad.thermal.throttled?.source).toBe('sysfs');
  });
});

describe('pure parsers and matchers', () => {
  it('device-tree strings are NUL separated', () => {
    expect(splitDtStrings('nvidia,p3449-0000-b00+p3448-0000-b00\0nvidia,jetson-nano\0nvidia,tegra210\0')).toEqual([
      'nvidia,p3449-0000-b00+p3448-0000-b00', 'nvidia,jetson-nano', 'nvidia,tegra210',
    ]);
  });

  it('matchBoard: model strings and compatible prefixes', () => {
    expect(matchBoard('Raspberry Pi Compute Module 4 Rev 1.0', [])?.boardClass).toBe('rpi4');
    expect(matchBoard('Raspberry Pi 3 Model B Plus Rev 1.3', [])?.boardClass).toBe('rpi3');
    expect(matchBoard(undefined, ['nvidia,p3509-0000+p3668-0001', 'nvidia,tegra194'])?.boardClass).toBe('jetson-xavier');
    expect(matchBoard('Some Other Board', ['vendor,thing'])).toBeUndefined();
  });

  it('L4T release and JetPack mapping', () => {
    expect(parseL4tRelease('# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic')).toBe('36.4.3');
    expect(jetpackFor('36.4.3')).toBe('6.2');
    expect(jetpackFor('35.9.9')).toBe('5.x');
    expect(parseL4tRelease('garbage')).toBeUndefined();
  });

  it('throttle bits 0-3 now, 16-19 since boot', () => {
    const t = decodeThrottled(0xf000f, 'vcgencmd');
    expect(t.now).toEqual({ underVoltage: true, freqCapped: true, throttled: true, softTempLimit: true });
    expect(t.sinceBoot).toEqual({ underVoltage: true, freqCapped: true, throttled: true, softTempLimit: true });
    expect(decodeThrottled(0x80000, 'sysfs').active).toEqual(['soft temperature limit since boot']);
  });

  it('cpuinfo parser: x86 numeric "model" is not the Pi "Model" line', () => {
    const c = parseCpuinfo('processor\t: 0\nmodel\t\t: 1\nmodel name\t: AMD EPYC\nflags\t\t: fpu lm avx2\n\nprocessor\t: 1\nmodel\t\t: 1\n');
    expect(c).toMatchObject({ processors: 2, modelName: 'AMD EPYC', flags: ['fpu', 'lm', 'avx2'] });
    expect(c.model).toBeUndefined();
  });
});
