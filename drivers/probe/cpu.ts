import type { CpuInfo } from '../../agent/select/hardware.js';
import { armCoreNames, interestingCpuFeatures } from './fingerprints.js';
import type { Sysroot } from './sysroot.js';

/** The parts of /proc/cpuinfo the probe uses. */
export interface ParsedCpuinfo {
  processors: number;
  modelName?: string;
  /** x86 `flags` or Arm `Features` of the first processor. */
  flags: string[];
  implementer?: string;
  part?: string;
  armArchitecture?: string;
  /** Raspberry Pi firmware lines (Revision, Model, Hardware). */
  revision?: string;
  model?: string;
  hardware?: string;
}

/**
 * Parses /proc/cpuinfo text ("key<TAB>: value" lines, a blank line between processors). Lines that are not
 * key/value pairs are ignored; the caller decides whether what is left makes sense.
 */
export function parseCpuinfo(text: string): ParsedCpuinfo {
  const out: ParsedCpuinfo = { processors: 0, flags: [] };
  for (const raw of text.split('\n')) {
    const m = /^([A-Za-z][A-Za-z0-9 _()]*?)\s*:\s?(.*)$/.exec(raw);
    if (!m) continue;
    const key = m[1]!.trim().toLowerCase();
    const value = m[2]!.trim();
    switch (key) {
      case 'processor':
        if (/^\d+$/.test(value)) out.processors += 1;
        break;
      case 'model name':
        out.modelName ??= value;
        break;
      case 'flags':
      case 'features':
        if (out.flags.length === 0) out.flags = value.split(/\s+/).filter(Boolean);
        break;
      case 'cpu implementer':
        out.implementer ??= value.toLowerCase();
        break;
      case 'cpu part':
        out.part ??= value.toLowerCase();
        break;
      case 'cpu architecture':
        out.armArchitecture ??= value;
        break;
      case 'revision':
        out.revision = value;
        break;
      case 'model':
        // x86 has a numeric "model" field per processor; the Pi firmware adds a textual "Model" at the end.
        if (!/^\d+$/.test(value)) out.model = value;
        break;
      case 'hardware':
        out.hardware = value;
        break;
      default:
        break;
    }
  }
  return out;
}

/** Architecture from cpuinfo when `uname -m` was not given. */
export function archFromCpuinfo(c: ParsedCpuinfo): string | undefined {
  if (c.armArchitecture === '8' || c.flags.includes('asimd')) return 'aarch64';
  if (c.armArchitecture === '7' || c.flags.includes('neon')) return 'armv7l';
  if (c.flags.includes('lm')) return 'x86_64';
  if (c.flags.includes('fpu')) return 'i686';
  return undefined;
}

/** Reads and parses /proc/cpuinfo; records a problem when it is missing or makes no sense. */
export function readCpuinfo(sys: Sysroot): ParsedCpuinfo | undefined {
  const text = sys.text('proc/cpuinfo');
  if (text === undefined) {
    sys.problems.push('no /proc/cpuinfo: CPU model, cores and features unknown');
    return undefined;
  }
  const parsed = parseCpuinfo(text);
  if (parsed.processors === 0 && parsed.flags.length === 0) {
    sys.problems.push('/proc/cpuinfo has no "processor" or "flags/Features" lines: CPU model, cores and features unknown');
  }
  return parsed;
}

/**
 * CPU facts from /proc/cpuinfo plus `uname -m`. On arm64 the kernel prints no "model name": the core is
 * named from implementer/part. NEON is listed as `neon` on 32-bit Arm and is implied by `asimd` on 64-bit.
 */
export function probeCpu(sys: Sysroot, parsed: ParsedCpuinfo | undefined, unameM: string | undefined): CpuInfo {
  const c = parsed ?? { processors: 0, flags: [] };
  const arch = unameM?.trim() || archFromCpuinfo(c) || 'unknown';
  let cores = c.processors;
  if (cores === 0) cores = coresFromOnline(sys.line('sys/devices/system/cpu/online')) ?? 0;
  const coreName = c.implementer && c.part ? armCoreNames[`${c.implementer}:${normalisePart(c.part)}`] : undefined;
  // Old arm64 kernels (L4T R32) print a generic "ARMv8 Processor rev 1 (v8l)": the core name says more.
  const generic = !c.modelName || /^ARMv\d+ Processor/.test(c.modelName);
  const modelName = (generic ? coreName : undefined) ?? c.modelName ?? coreName ?? (c.implementer ? `Arm core ${c.implementer}/${c.part ?? '?'}` : 'unknown');
  const flags = new Set(c.flags);
  if (flags.has('asimd')) flags.add('neon');
  const features = interestingCpuFeatures.filter((f) => flags.has(f));
  return { arch, cores, modelName, features };
}

function normalisePart(part: string): string {
  const n = Number.parseInt(part, 16);
  return Number.isNaN(n) ? part : `0x${n.toString(16).padStart(3, '0')}`;
}

/** "0-3" or "0,2-5" -> count. */
export function coresFromOnline(text: string | undefined): number | undefined {
  if (!text) return undefined;
  let n = 0;
  for (const part of text.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) return undefined;
    n += m[2] === undefined ? 1 : Number(m[2]) - Number(m[1]) + 1;
  }
  return n || undefined;
}
