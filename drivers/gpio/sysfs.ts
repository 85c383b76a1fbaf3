/**
 * Output through the legacy sysfs GPIO interface (/sys/class/gpio), for old kernels and older Jetson releases
 * without the character device v2 uAPI. Kernel doc: Documentation/admin-guide/gpio/sysfs.rst (export/unexport,
 * gpioN/direction accepting "in", "out", "high", "low"; gpioN/value; gpiochipN/base, label, ngpio).
 *
 * The sysfs number of a line is the chip's base plus the line offset. Since Linux 6.6 (Pi OS bookworm kernels) GPIO
 * bases are allocated dynamically from 512, so Broadcom GPIO17 on a Pi 4 is gpio529 (base 512) and on a Pi 5 the
 * RP1 header chip has base 571 (GPIO17 = gpio588). Code writing "17" to export drives the wrong pin; we always read
 * the base.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AgentError } from '../../agent/errors.js';
import type { Actuator, DriverContext } from '../../agent/actuators/actuator.js';

export interface SysfsDriverConfig {
  line: number;
  chipLabel?: string;
}

/** Labels of the chip wired to the 40-pin header, preferred when no chipLabel is configured (data, not logic). */
export const headerChipLabels = [
  'pinctrl-bcm2711', // Raspberry Pi 4 / 400 / CM4
  'pinctrl-bcm2835', // Raspberry Pi 1-3, Zero
  'pinctrl-rp1', // Raspberry Pi 5 (RP1 south bridge)
  'tegra234-gpio', // Jetson Orin
  'tegra194-gpio', // Jetson Xavier
  'tegra-gpio', // Jetson Nano / TX1
];

export interface SysfsChip {
  dir: string;
  base: number;
  label: string;
  ngpio: number;
}

const permissionFix =
  'add the service user to the "gpio" group (sudo usermod -aG gpio <user>), whose udev rules make /sys/class/gpio writable (see docs/outputs.md)';

function readTrim(path: string): string {
  return readFileSync(path, 'utf8').trim();
}

/** Every gpiochipN folder with its base, label and line count, lowest base first. */
export function listSysfsChips(gpioDir: string): SysfsChip[] {
  return readdirSync(gpioDir)
    .filter((n) => /^gpiochip\d+$/.test(n))
    .map((n) => {
      const dir = join(gpioDir, n);
      return { dir, base: Number(readTrim(join(dir, 'base'))), label: readTrim(join(dir, 'label')), ngpio: Number(readTrim(join(dir, 'ngpio'))) };
    })
    .sort((a, b) => a.base - b.base);
}

/** sysfs numbers claimed by outputs of this process (sysfs itself cannot tell us: export is not exclusive). */
const claimed = new Map<string, string>();

export class SysfsActuator implements Actuator {
  readonly type = 'sysfs';
  private readonly gpioDir: string;
  private chip: SysfsChip | undefined;
  private number = -1;
  private exported = false;

  constructor(
    private readonly cfg: SysfsDriverConfig,
    private readonly ctx: DriverContext,
    /** How long to wait for the kernel (and udev, which fixes permissions) to create gpioN after export. */
    private readonly exportWaitMs = 2_000,
  ) {
    this.gpioDir = join(ctx.sysRoot ?? '/sys', 'class', 'gpio');
  }

  describe(): string {
    const chip = this.chip ? `${this.chip.label} base ${this.chip.base}` : (this.cfg.chipLabel ?? 'first header chip');
    return `sysfs ${chip} line ${this.cfg.line}${this.number >= 0 ? ` (gpio${this.number})` : ''}${this.ctx.activeLow ? ', active-low' : ''}`;
  }

  /** Physical level ("0"/"1") for a logical one. */
  private physical(active: boolean): '0' | '1' {
    return active !== this.ctx.activeLow ? '1' : '0';
  }

  async start(): Promise<void> {
    if (!existsSync(join(this.gpioDir, 'export'))) {
      throw new AgentError('OUTPUT_INVALID', `output "${this.ctx.output}": this kernel has no sysfs GPIO interface (${this.gpioDir}/export missing)`, {
        fix: 'use driver type gpiochip (the character device), which every kernel since 4.8 provides',
      });
    }
    this.chip = this.pickChip();
    if (this.cfg.line >= this.chip.ngpio) {
      throw new AgentError('OUTPUT_INVALID', `output "${this.ctx.output}": line ${this.cfg.line} does not exist on ${this.chip.label}, which has lines 0-${this.chip.ngpio - 1}`, {
        fix: 'check driver.line (the offset on the chip, e.g. the Broadcom GPIO number)',
      });
    }
    const number = this.chip.base + this.cfg.line;
    const key = join(this.gpioDir, `gpio${number}`);
    const owner = claimed.get(key);
    if (owner) {
      throw new AgentError('OUTPUT_INVALID', `output "${this.ctx.output}": gpio${number} (${this.chip.label} line ${this.cfg.line}) is already driven by output "${owner}"`, {
        fix: 'give each output its own line',
      });
    }
    claimed.set(key, this.ctx.output);
    this.number = number;
    try {
      await this.claimLine(join(this.gpioDir, `gpio${number}`));
    } catch (err) {
      claimed.delete(key);
      this.number = -1;
      throw err;
    }
  }

  private async claimLine(lineDir: string): Promise<void> {
    if (!existsSync(lineDir)) {
      this.writeSysfs(join(this.gpioDir, 'export'), String(this.number), 'export');
      this.exported = true;
    }
    // "high"/"low" set the direction to output AND the initial level in one write: no glitch to the wrong level.
    const safeDir = this.physical(false) === '1' ? 'high' : 'low';
    const deadline = Date.now() + this.exportWaitMs;
    for (;;) {
      try {
        writeFileSync(join(lineDir, 'direction'), safeDir);
        return;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // Right after export the files exist with root ownership until udev applies the gpio group: retry.
        if ((code === 'ENOENT' || code === 'EACCES') && Date.now() < deadline) {
          await sleep(20);
          continue;
        }
        throw this.fsError(err, join(lineDir, 'direction'));
      }
    }
  }

  async write(active: boolean, _reason?: string): Promise<void> {
    this.writeValue(active);
  }

  async safe(_reason?: string): Promise<void> {
    this.writeValue(false);
  }

  safeSync(_reason?: string): boolean {
    if (this.number < 0) return true;
    this.writeValue(false);
    return true;
  }

  async stop(): Promise<void> {
    if (this.number < 0) return;
    try {
      this.writeValue(false);
    } finally {
      if (this.exported) {
        try {
          this.writeSysfs(join(this.gpioDir, 'unexport'), String(this.number), 'unexport');
        } catch (err) {
          this.ctx.log.warn({ err, output: this.ctx.output }, 'could not unexport the GPIO line');
        }
      }
      claimed.delete(join(this.gpioDir, `gpio${this.number}`));
      this.number = -1;
      this.exported = false;
    }
  }

  private writeValue(active: boolean): void {
    if (this.number < 0) throw new AgentError('OUTPUT_FAILED', `output "${this.ctx.output}": line not exported (start() first)`);
    writeFileSync(join(this.gpioDir, `gpio${this.number}`, 'value'), this.physical(active));
  }

  private pickChip(): SysfsChip {
    const chips = listSysfsChips(this.gpioDir);
    const list = chips.map((c) => `${c.label} (base ${c.base})`).join(', ') || 'none';
    if (this.cfg.chipLabel) {
      const c = chips.find((x) => x.label === this.cfg.chipLabel);
      if (!c) throw new AgentError('OUTPUT_INVALID', `output "${this.ctx.output}": no GPIO chip labelled "${this.cfg.chipLabel}" in ${this.gpioDir}`, { fix: `chips found: ${list}` });
      return c;
    }
    for (const label of headerChipLabels) {
      const c = chips.find((x) => x.label === label);
      if (c) return c;
    }
    if (!chips[0]) throw new AgentError('OUTPUT_INVALID', `output "${this.ctx.output}": no GPIO chips in ${this.gpioDir}`, { fix: 'use driver type dry-run to test without hardware' });
    return chips[0];
  }

  private writeSysfs(path: string, text: string, what: string): void {
    try {
      writeFileSync(path, text);
    } catch (err) {
      throw this.fsError(err, path, what);
    }
  }

  private fsError(err: unknown, path: string, what = 'write'): AgentError {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') {
      return new AgentError('OUTPUT_PERMISSION', `output "${this.ctx.output}": no permission to write ${path}`, { fix: permissionFix, cause: err });
    }
    if (code === 'EBUSY' || code === 'EINVAL') {
      return new AgentError('OUTPUT_FAILED', `output "${this.ctx.output}": the kernel refused to ${what} gpio${this.number} (${code}): the line may be claimed by a driver or another program`, {
        fix: 'check `gpioinfo` for the line consumer, or pick another line',
        cause: err,
        exitCode: 78,
      });
    }
    return new AgentError('OUTPUT_FAILED', `output "${this.ctx.output}": cannot ${what} ${path}: ${code ?? String(err)}`, { cause: err });
  }
}
