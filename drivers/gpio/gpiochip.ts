/**
 * Output on a Linux GPIO character device (/dev/gpiochipN) through the kernel's v2 uAPI: works wherever the
 * kernel has GPIO_CDEV_V2 (5.10+), whether the distribution ships libgpiod 1.6 or 2.x, because it needs neither.
 * Flow (include/uapi/linux/gpio.h): GPIO_GET_CHIPINFO_IOCTL -> GPIO_V2_GET_LINEINFO_IOCTL (line names) ->
 * GPIO_V2_GET_LINE_IOCTL (line fd, output, initial safe value) -> GPIO_V2_LINE_SET_VALUES_IOCTL per write.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { AgentError } from '../../agent/errors.js';
import type { Actuator, DriverContext } from '../../agent/actuators/actuator.js';
import type { GpioSyscalls } from './syscalls.js';
import {
  Ioctl,
  assertLittleEndian,
  chipInfoBuffer,
  lineInfoRequest,
  lineValues,
  outputLineRequest,
  parseChipInfo,
  parseLineInfo,
  requestFd,
  type ChipInfo,
  type LineInfo,
} from './uapi.js';

export interface GpiochipDriverConfig {
  chip: string;
  line: number | string;
}

const permissionFix =
  'add the service user to the "gpio" group (sudo usermod -aG gpio <user>, then log in again), or where there is no such group ' +
  'add a udev rule: SUBSYSTEM=="gpio", KERNEL=="gpiochip*", GROUP="gpio", MODE="0660" (see docs/outputs.md)';

function codeOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

export class GpiochipActuator implements Actuator {
  readonly type = 'gpiochip';
  private lineFd = -1;
  private chipPath: string | undefined;
  private chip: ChipInfo | undefined;
  private offset: number | undefined;
  private lineName = '';
  private readonly devRoot: string;

  constructor(
    private readonly cfg: GpiochipDriverConfig,
    private readonly ctx: DriverContext,
    private readonly sys: GpioSyscalls,
  ) {
    this.devRoot = ctx.devRoot ?? '/dev';
  }

  describe(): string {
    const chip = this.chip ? `${this.chip.label || this.chip.name} (${this.chipPath})` : this.cfg.chip;
    const line = this.offset === undefined ? String(this.cfg.line) : `${this.offset}${this.lineName ? ` ${this.lineName}` : ''}`;
    return `gpiochip ${chip} line ${line}${this.ctx.activeLow ? ', active-low' : ''}`;
  }

  async start(): Promise<void> {
    assertLittleEndian();
    const chipFd = this.openChip();
    try {
      this.offset = this.resolveLine(chipFd);
      this.requestLine(chipFd, this.offset);
    } finally {
      this.sys.close(chipFd);
    }
  }

  async write(active: boolean, _reason?: string): Promise<void> {
    this.writeSync(active);
  }

  async safe(_reason?: string): Promise<void> {
    this.writeSync(false);
  }

  safeSync(_reason?: string): boolean {
    if (this.lineFd < 0) return true;
    this.writeSync(false);
    return true;
  }

  async stop(): Promise<void> {
    if (this.lineFd < 0) return;
    try {
      this.writeSync(false);
    } finally {
      // Releasing the line leaves the pin as the kernel/SoC keeps it (see docs/outputs.md: pull resistors).
      this.sys.close(this.lineFd);
      this.lineFd = -1;
    }
  }

  private writeSync(active: boolean): void {
    if (this.lineFd < 0) throw new AgentError('OUTPUT_FAILED', `output "${this.ctx.output}": line not requested (start() first)`);
    // Logical value: the kernel applies GPIO_V2_LINE_FLAG_ACTIVE_LOW set at request time.
    this.sys.ioctl(this.lineFd, Ioctl.GPIO_V2_LINE_SET_VALUES_IOCTL, lineValues(active));
  }

  /** Candidate device paths: /dev/gpiochipN in numeric order. */
  private listChips(): string[] {
    let names: string[] = [];
    try {
      names = readdirSync(this.devRoot).filter((n) => /^gpiochip\d+$/.test(n));
    } catch {
      names = [];
    }
    return names.sort((a, b) => Number(a.slice(8)) - Number(b.slice(8))).map((n) => join(this.devRoot, n));
  }

  private openPath(path: string): number {
    try {
      return this.sys.open(path);
    } catch (err) {
      const code = codeOf(err);
      if (code === 'EACCES' || code === 'EPERM') {
        throw new AgentError('OUTPUT_PERMISSION', `output "${this.ctx.output}": no permission to open ${path}`, { fix: permissionFix, cause: err });
      }
      if (code === 'ENOENT') {
        const found = this.listChips().map((p) => p.slice(this.devRoot.length + 1));
        throw new AgentError('OUTPUT_INVALID', `output "${this.ctx.output}": GPIO chip ${path} does not exist`, {
          fix: found.length ? `use one of: ${found.join(', ')} (gpiodetect lists them with labels)` : 'this machine has no GPIO chips; to test without hardware use --simulate-outputs FILE or driver type dry-run',
          cause: err,
        });
      }
      throw new AgentError('OUTPUT_FAILED', `output "${this.ctx.output}": cannot open ${path}: ${code ?? String(err)}`, { cause: err });
    }
  }

  private chipInfo(fd: number, path: string): ChipInfo {
    const buf = chipInfoBuffer();
    try {
      this.sys.ioctl(fd, Ioctl.GPIO_GET_CHIPINFO_IOCTL, buf);
    } catch (err) {
      throw new AgentError('OUTPUT_INVALID', `output "${this.ctx.output}": ${path} is not a GPIO character device (${codeOf(err) ?? String(err)})`, {
        fix: 'set driver.chip to a /dev/gpiochipN device (gpiodetect lists them)',
        cause: err,
      });
    }
    return parseChipInfo(buf);
  }

  /** /dev/gpiochipN, gpiochipN, or a chip label/name (pinctrl-bcm2711, pinctrl-rp1) matched through CHIPINFO. */
  private openChip(): number {
    const want = this.cfg.chip;
    let path: string | undefined;
    if (want.startsWith('/dev/')) path = join(this.devRoot, want.slice(5));
    else if (want.startsWith('/')) path = want;
    else if (/^gpiochip\d+$/.test(want)) path = join(this.devRoot, want);
    if (path) {
      const fd = this.openPath(path);
      try {
        this.chip = this.chipInfo(fd, path);
      } catch (err) {
        this.sys.close(fd);
        throw err;
      }
      this.chipPath = path;
      return fd;
    }
    const seen: string[] = [];
    for (const p of this.listChips()) {
      const fd = this.openPath(p);
      let info: ChipInfo;
      try {
        info = this.chipInfo(fd, p);
      } catch (err) {
        this.sys.close(fd);
        throw err;
      }
      if (info.label === want || info.name === want) {
        this.chip = info;
        this.chipPath = p;
        return fd;
      }
      this.sys.close(fd);
      seen.push(`${info.name} "${info.label}"`);
    }
    throw new AgentError('OUTPUT_INVALID', `output "${this.ctx.output}": no GPIO chip labelled "${want}"`, {
      fix: seen.length ? `chips found: ${seen.join(', ')}` : 'this machine has no GPIO chips; to test without hardware use --simulate-outputs FILE or driver type dry-run',
    });
  }

  private lineInfo(fd: number, offset: number): LineInfo {
    const buf = lineInfoRequest(offset);
    this.sys.ioctl(fd, Ioctl.GPIO_V2_GET_LINEINFO_IOCTL, buf);
    return parseLineInfo(buf);
  }

  private resolveLine(fd: number): number {
    const chip = this.chip!;
    const where = `${chip.label || chip.name} (${this.chipPath})`;
    const want = this.cfg.line;
    if (typeof want === 'number') {
      if (want >= chip.lines) {
        throw new AgentError('OUTPUT_INVALID', `output "${this.ctx.output}": line ${want} does not exist on ${where}, which has lines 0-${chip.lines - 1}`, {
          fix: 'check driver.line (gpioinfo lists the lines)',
        });
      }
      this.lineName = this.lineInfo(fd, want).name;
      return want;
    }
    const names: string[] = [];
    for (let off = 0; off < chip.lines; off++) {
      const info = this.lineInfo(fd, off);
      if (info.name === want) {
        this.lineName = info.name;
        return off;
      }
      if (info.name) names.push(info.name);
    }
    const sample = names.slice(0, 8).join(', ');
    throw new AgentError('OUTPUT_INVALID', `output "${this.ctx.output}": no line named "${want}" on ${where}`, {
      fix: names.length ? `line names there include ${sample}${names.length > 8 ? ', ...' : ''} (gpioinfo lists them); or give the offset as a number` : 'the chip has no line names; give driver.line as an offset number',
    });
  }

  private requestLine(chipFd: number, offset: number): void {
    const buf = outputLineRequest({ offset, consumer: `edge-agent:${this.ctx.output}`, activeLow: this.ctx.activeLow, initialActive: false });
    try {
      this.sys.ioctl(chipFd, Ioctl.GPIO_V2_GET_LINE_IOCTL, buf);
    } catch (err) {
      const code = codeOf(err);
      if (code === 'EBUSY') {
        const holder = this.lineInfo(chipFd, offset).consumer;
        throw new AgentError('OUTPUT_FAILED', `output "${this.ctx.output}": line ${offset} on ${this.chipPath} is already in use${holder ? ` by "${holder}"` : ''}`, {
          fix: 'stop the other program using the line, or pick another line',
          cause: err,
          exitCode: 78,
        });
      }
      if (code === 'EACCES' || code === 'EPERM') {
        throw new AgentError('OUTPUT_PERMISSION', `output "${this.ctx.output}": no permission to request line ${offset} on ${this.chipPath}`, { fix: permissionFix, cause: err });
      }
      throw new AgentError('OUTPUT_FAILED', `output "${this.ctx.output}": cannot request line ${offset} on ${this.chipPath} as output: ${code ?? String(err)}`, { cause: err });
    }
    const fd = requestFd(buf);
    if (fd <= 0) throw new AgentError('OUTPUT_FAILED', `output "${this.ctx.output}": the kernel returned no line fd for line ${offset} on ${this.chipPath}`);
    this.lineFd = fd;
  }
}
