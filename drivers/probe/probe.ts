import type { HardwareProfile } from '../../agent/select/hardware.js';
import { cpuAccelerator, probeCoralPcie, probeCoralUsb, probeJetsonGpu } from './accelerators.js';
import { probeBoard } from './board.js';
import { probeCpu, readCpuinfo } from './cpu.js';
import { Sysroot } from './sysroot.js';
import { probeMemory, probeThermal } from './thermal.js';

/** Command outputs the probe cannot read from files; the caller runs the commands (or not) and passes the text. */
export interface ProbeCommands {
  /** `uname -m` (default: inferred from /proc/cpuinfo). */
  unameM?: string;
  /** `vcgencmd get_throttled` (default: the firmware sysfs file, when present). */
  vcgencmdGetThrottled?: string;
}

/**
 * The hardware probe: a pure function of a filesystem root and a few command outputs. It never throws;
 * whatever cannot be read is listed in `problems` and the rest of the profile is still returned.
 */
export function probe(root = '/', cmds: ProbeCommands = {}): HardwareProfile {
  const sys = new Sysroot(root);
  if (!sys.isDir('.')) sys.problems.push(`sysroot ${root} is not a readable folder`);
  const parsed = readCpuinfo(sys);
  const cpu = probeCpu(sys, parsed, cmds.unameM);
  const board = probeBoard(sys, cpu.arch, parsed);
  const memory = probeMemory(sys);
  const thermal = probeThermal(sys, cmds.vcgencmdGetThrottled);
  const accelerators = [cpuAccelerator(cpu), ...probeCoralUsb(sys), ...probeCoralPcie(sys, board), ...probeJetsonGpu(sys, board)];
  if (thermal.throttled?.now.underVoltage || thermal.underVoltageAlarm) accelerators[0]!.warnings.push('under-voltage now: use the official power supply (Pi 4: 5.1 V 3 A, Pi 5: 5.1 V 5 A)');
  if (thermal.throttled?.now.throttled || thermal.throttled?.now.freqCapped) accelerators[0]!.warnings.push('CPU throttled/frequency capped now: latency will be higher than benchmarked; add cooling');
  return { root, board, cpu, memory, thermal, accelerators, problems: sys.problems };
}
