import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SysfsActuator } from '../../drivers/gpio/sysfs.js';
import { AgentError } from '../../agent/errors.js';
import { silentLogger } from '../../agent/log.js';

/**
 * A temporary sysfs-like tree (Documentation/admin-guide/gpio/sysfs.rst): class/gpio/{export,unexport},
 * gpiochipN/{base,label,ngpio}. A small poller plays the kernel: a number written to export makes gpioN/
 * appear (direction, value), unexport removes it. Chip bases are those of Pi OS kernels 6.6+: 512 on a Pi 4
 * (pinctrl-bcm2711, 58 lines) and, on a Pi 5, 571 for the header chip pinctrl-rp1 (54 lines).
 */
let root: string;
let gpio: string;
let kernel: NodeJS.Timeout;
const exportedLog: number[] = [];

function addChip(dirName: string, base: number, label: string, ngpio: number): void {
  const d = join(gpio, dirName);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'base'), `${base}\n`);
  writeFileSync(join(d, 'label'), `${label}\n`);
  writeFileSync(join(d, 'ngpio'), `${ngpio}\n`);
}

function fakeKernel(): NodeJS.Timeout {
  return setInterval(() => {
    const exp = readFileSync(join(gpio, 'export'), 'utf8').trim();
    if (exp) {
      writeFileSync(join(gpio, 'export'), '');
      const n = Number(exp);
      exportedLog.push(n);
      mkdirSync(join(gpio, `gpio${n}`));
      writeFileSync(join(gpio, `gpio${n}`, 'direction'), 'in');
      writeFileSync(join(gpio, `gpio${n}`, 'value'), '0');
    }
    const unexp = readFileSync(join(gpio, 'unexport'), 'utf8').trim();
    if (unexp) {
      writeFileSync(join(gpio, 'unexport'), '');
      rmSync(join(gpio, `gpio${unexp}`), { recursive: true, force: true });
    }
  }, 2);
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'sysfs-'));
  gpio = join(root, 'class', 'gpio');
  mkdirSync(gpio, { recursive: true });
  writeFileSync(join(gpio, 'export'), '');
  writeFileSync(join(gpio, 'unexport'), '');
  exportedLog.length = 0;
  kernel = fakeKernel();
});
afterEach(() => {
  clearInterval(kernel);
  rmSync(root, { recursive: true, force: true });
});

const read = (p: string): string => readFileSync(join(gpio, p), 'utf8').trim();

describe('sysfs driver on a temporary sysfs tree', () => {
  it('Pi 4 on kernel 6.6+: line 17 is exported as gpio529 (base 512), driven low at start, written, unexported at stop', async () => {
    addChip('gpiochip512', 512, 'pinctrl-bcm2711', 58);
    addChip('gpiochip570', 570, 'raspberrypi-exp-gpio', 8);
    const a = new SysfsActuator({ line: 17 }, { output: 'gate', activeLow: false, log: silentLogger, sysRoot: root });
    await a.start();
    expect(exportedLog).toEqual([529]);
    expect(read('gpio529/direction')).toBe('low');
    await a.write(true, 'x');
    expect(read('gpio529/value')).toBe('1');
    await a.write(false, 'x');
    expect(read('gpio529/value')).toBe('0');
    await a.stop();
    await new Promise((r) => setTimeout(r, 30));
    expect(existsSync(join(gpio, 'gpio529'))).toBe(false);
    expect(a.describe()).toContain('base 512');
  });

  it('Pi 5: picks the header chip pinctrl-rp1 (base 571) over lower-based chips; active-low idles high', async () => {
    addChip('gpiochip512', 512, 'gpio-brcmstb@107d508500', 32);
    addChip('gpiochip544', 544, 'gpio-brcmstb@107d508520', 27);
    addChip('gpiochip571', 571, 'pinctrl-rp1', 54);
    const a = new SysfsActuator({ line: 17 }, { output: 'valve', activeLow: true, log: silentLogger, sysRoot: root });
    await a.start();
    expect(exportedLog).toEqual([588]);
    expect(read('gpio588/direction')).toBe('high');
    await a.write(true, 'x');
    expect(read('gpio588/value')).toBe('0');
    expect(a.safeSync('crash')).toBe(true);
    expect(read('gpio588/value')).toBe('1');
    await a.stop();
  });

  it('an explicit chipLabel is honoured, and an unknown one lists the chips with their bases', async () => {
    addChip('gpiochip512', 512, 'pinctrl-bcm2711', 58);
    addChip('gpiochip570', 570, 'raspberrypi-exp-gpio', 8);
    const a = new SysfsActuator({ line: 2, chipLabel: 'raspberrypi-exp-gpio' }, { output: 'led', activeLow: false, log: silentLogger, sysRoot: root });
    await a.start();
    expect(exportedLog).toEqual([572]);
    await a.stop();
    const b = new SysfsActuator({ line: 2, chipLabel: 'tegra234-gpio' }, { output: 'led', activeLow: false, log: silentLogger, sysRoot: root });
    const err = (await b.start().catch((e: unknown) => e)) as AgentError;
    expect(err).toBeInstanceOf(AgentError);
    expect(err.oneLine()).toBe(`output "led": no GPIO chip labelled "tegra234-gpio" in ${gpio}: chips found: pinctrl-bcm2711 (base 512), raspberrypi-exp-gpio (base 570)`);
  });

  it('a line past the chip end and a kernel without sysfs GPIO are clear config errors', async () => {
    addChip('gpiochip512', 512, 'pinctrl-bcm2711', 58);
    const a = new SysfsActuator({ line: 60 }, { output: 'gate', activeLow: false, log: silentLogger, sysRoot: root });
    expect(((await a.start().catch((e: unknown) => e)) as AgentError).oneLine()).toMatch(/line 60 does not exist on pinctrl-bcm2711, which has lines 0-57/);
    const b = new SysfsActuator({ line: 1 }, { output: 'gate', activeLow: false, log: silentLogger, sysRoot: join(root, 'nowhere') });
    const err = (await b.start().catch((e: unknown) => e)) as AgentError;
    expect(err.code).toBe('OUTPUT_INVALID');
    expect(err.oneLine()).toMatch(/no sysfs GPIO interface .*use driver type gpiochip/);
  });

  it('a gpio line that never appears after export (or stays unwritable) is reported, not ignored', async () => {
    clearInterval(kernel); // the "kernel" ignores the export
    addChip('gpiochip512', 512, 'pinctrl-bcm2711', 58);
    const a = new SysfsActuator({ line: 17 }, { output: 'gate', activeLow: false, log: silentLogger, sysRoot: root }, 100);
    const err = (await a.start().catch((e: unknown) => e)) as AgentError;
    expect(err).toBeInstanceOf(AgentError);
    expect(err.oneLine()).toMatch(/gpio529\/direction/);
  });
});

describe('two outputs on one sysfs line', () => {
  it('the second is refused at start naming the first, and the line is free again after stop', async () => {
    addChip('gpiochip512', 512, 'pinctrl-bcm2711', 58);
    const a = new SysfsActuator({ line: 5 }, { output: 'gate', activeLow: false, log: silentLogger, sysRoot: root });
    await a.start();
    const b = new SysfsActuator({ line: 5, chipLabel: 'pinctrl-bcm2711' }, { output: 'valve', activeLow: false, log: silentLogger, sysRoot: root });
    const err = (await b.start().catch((e: unknown) => e)) as AgentError;
    expect(err.oneLine()).toBe('output "valve": gpio517 (pinctrl-bcm2711 line 5) is already driven by output "gate": give each output its own line');
    await a.stop();
    await new Promise((r) => setTimeout(r, 30));
    await b.start();
    await b.stop();
  });
});
