import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GpiochipActuator } from '../../drivers/gpio/gpiochip.js';
import { loadKernelSyscalls } from '../../drivers/gpio/syscalls.js';
import { AgentError } from '../../agent/errors.js';
import { silentLogger } from '../../agent/log.js';
import { FakeGpioKernel, bcm2711LineNames } from '../fixtures/gpio/fake-kernel.js';

let dev: string;
let kernel: FakeGpioKernel;

function ctx(activeLow = false) {
  return { output: 'gate', activeLow, log: silentLogger, devRoot: dev };
}

beforeEach(() => {
  dev = mkdtempSync(join(tmpdir(), 'gpio-dev-'));
  // The device nodes only need to be listable; opening them goes through the fake kernel.
  for (const n of ['gpiochip0', 'gpiochip1']) writeFileSync(join(dev, n), '');
  kernel = new FakeGpioKernel({
    [join(dev, 'gpiochip0')]: { name: 'gpiochip0', label: 'pinctrl-bcm2711', lines: [...bcm2711LineNames, ...Array(30).fill('')] },
    [join(dev, 'gpiochip1')]: { name: 'gpiochip1', label: 'raspberrypi-exp-gpio', lines: ['BT_ON', 'WL_ON', 'PWR_LED_OFF', 'GLOBAL_RESET', 'VDD_SD_IO_SEL', 'CAM_GPIO', 'SD_PWR_ON', ''] },
  });
});
afterEach(() => rmSync(dev, { recursive: true, force: true }));

async function startErr(a: GpiochipActuator): Promise<AgentError> {
  const err = await a.start().then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(AgentError);
  return err as AgentError;
}

describe('gpiochip driver on a fake kernel', () => {
  it('resolves a line name, requests it as output at the safe level, and writes logical levels', async () => {
    const a = new GpiochipActuator({ chip: 'gpiochip0', line: 'GPIO17' }, ctx(), kernel);
    await a.start();
    const [line] = kernel.lines();
    expect(line).toMatchObject({ offset: 17, consumer: 'edge-agent:gate', activeLow: false, physical: 0 });
    await a.write(true, 'test');
    expect(line!.physical).toBe(1);
    await a.write(false, 'test');
    expect(a.safeSync('crash')).toBe(true);
    await a.stop();
    expect(line!.history).toEqual([0, 1, 0, 0, 0]);
    expect(line!.released).toBe(true);
    expect(a.describe()).toContain('pinctrl-bcm2711');
  });

  it('active-low: the kernel inverts, so the pin idles high and goes low when active', async () => {
    const a = new GpiochipActuator({ chip: '/dev/gpiochip0', line: 4 }, ctx(true), kernel);
    await a.start();
    const [line] = kernel.lines();
    expect(line).toMatchObject({ offset: 4, activeLow: true, physical: 1 });
    await a.write(true, 'x');
    expect(line!.physical).toBe(0);
    await a.stop();
    expect(line!.physical).toBe(1);
  });

  it('finds a chip by label (pinctrl-bcm2711, raspberrypi-exp-gpio)', async () => {
    const a = new GpiochipActuator({ chip: 'raspberrypi-exp-gpio', line: 'CAM_GPIO' }, ctx(), kernel);
    await a.start();
    expect(kernel.lines()[0]).toMatchObject({ chip: join(dev, 'gpiochip1'), offset: 5 });
    await a.stop();
  });

  it('a line name that does not exist is a config error naming the chip and real names', async () => {
    const err = await startErr(new GpiochipActuator({ chip: 'gpiochip0', line: 'GPIO99' }, ctx(), kernel));
    expect(err.code).toBe('OUTPUT_INVALID');
    expect(err.oneLine()).toMatch(/no line named "GPIO99" on pinctrl-bcm2711 .*line names there include ID_SDA/);
    expect(err.exitCode).toBe(78);
  });

  it('a line offset past the end is a config error with the valid range', async () => {
    const err = await startErr(new GpiochipActuator({ chip: 'gpiochip1', line: 8 }, ctx(), kernel));
    expect(err.oneLine()).toMatch(/line 8 does not exist on raspberrypi-exp-gpio .* lines 0-7/);
  });

  it('a missing chip and an unknown label list the chips that exist', async () => {
    let err = await startErr(new GpiochipActuator({ chip: 'gpiochip4', line: 1 }, ctx(), kernel));
    expect(err.oneLine()).toMatch(/gpiochip4 does not exist: use one of: gpiochip0, gpiochip1/);
    err = await startErr(new GpiochipActuator({ chip: 'pinctrl-rp1', line: 1 }, ctx(), kernel));
    expect(err.oneLine()).toMatch(/no GPIO chip labelled "pinctrl-rp1": chips found: gpiochip0 "pinctrl-bcm2711", gpiochip1 "raspberrypi-exp-gpio"/);
  });

  it('a chip without permission tells the user about the gpio group and udev', async () => {
    kernel = new FakeGpioKernel({ [join(dev, 'gpiochip0')]: { name: 'gpiochip0', label: 'pinctrl-bcm2711', lines: bcm2711LineNames, openError: 'EACCES' } });
    const err = await startErr(new GpiochipActuator({ chip: 'gpiochip0', line: 'GPIO17' }, ctx(), kernel));
    expect(err.code).toBe('OUTPUT_PERMISSION');
    expect(err.oneLine()).toMatch(/no permission to open .*gpiochip0: add the service user to the "gpio" group.*udev rule/);
  });

  it('a line already in use names its consumer', async () => {
    const first = new GpiochipActuator({ chip: 'gpiochip0', line: 17 }, ctx(), kernel);
    await first.start();
    const err = await startErr(new GpiochipActuator({ chip: 'gpiochip0', line: 'GPIO17' }, { ...ctx(), output: 'other' }, kernel));
    expect(err.oneLine()).toMatch(/line 17 .* already in use by "edge-agent:gate"/);
    await first.stop();
  });
});

describe('gpiochip driver on the real kernel syscalls (koffi)', () => {
  it('loads ioctl through koffi, and a non-GPIO device is refused with ENOTTY from the real kernel', async () => {
    const k = loadKernelSyscalls();
    expect(k.error).toBeUndefined();
    const a = new GpiochipActuator({ chip: '/dev/null', line: 0 }, { output: 'gate', activeLow: false, log: silentLogger }, k.syscalls!);
    const err = await startErr(a);
    expect(err.oneLine()).toMatch(/\/dev\/null is not a GPIO character device \(ENOTTY\)/);
  });
});
