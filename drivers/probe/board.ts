import type { BoardInfo } from '../../agent/select/hardware.js';
import { boardFingerprints, jetpackByL4t, jetpackMajorByL4tMajor, type BoardFingerprint } from './fingerprints.js';
import type { ParsedCpuinfo } from './cpu.js';
import type { Sysroot } from './sysroot.js';

/** Device-tree strings are NUL-terminated; `compatible` is a NUL-separated list. */
export function splitDtStrings(text: string | undefined): string[] {
  if (!text) return [];
  return text.split('\0').map((s) => s.trim()).filter(Boolean);
}

/** Pure matcher: the first fingerprint whose model or any compatible string matches. */
export function matchBoard(model: string | undefined, compatible: string[]): BoardFingerprint | undefined {
  for (const fp of boardFingerprints) {
    if (model && fp.model?.test(model)) return fp;
    if (fp.compatible && compatible.some((c) => fp.compatible!.test(c))) return fp;
  }
  return undefined;
}

/**
 * Parses the first line of /etc/nv_tegra_release, e.g.
 * "# R32 (release), REVISION: 7.1, GCID: 29818004, BOARD: t210ref, EABI: aarch64, DATE: ..." -> "32.7.1".
 */
export function parseL4tRelease(text: string | undefined): string | undefined {
  if (!text) return undefined;
  const m = /#\s*R(\d+)\s*\(release\),\s*REVISION:\s*(\d+)(?:\.(\d+))?/.exec(text);
  if (!m) return undefined;
  return `${m[1]}.${m[2]}.${m[3] ?? '0'}`;
}

export function jetpackFor(l4t: string | undefined): string | undefined {
  if (!l4t) return undefined;
  const exact = jetpackByL4t[l4t];
  if (exact) return exact;
  const major = jetpackMajorByL4tMajor[l4t.split('.')[0]!];
  return major ? `${major}.x` : undefined;
}

/**
 * Board identity. Device-tree model/compatible first (/proc/device-tree, or /sys/firmware/devicetree/base which
 * it links to), then /etc/nv_tegra_release for Jetson, then a generic PC/SBC by architecture.
 */
export function probeBoard(sys: Sysroot, arch: string, cpuinfo: ParsedCpuinfo | undefined): BoardInfo {
  const dtBase = sys.exists('proc/device-tree') ? 'proc/device-tree' : 'sys/firmware/devicetree/base';
  const dtModelRaw = sys.text(`${dtBase}/model`);
  const model = splitDtStrings(dtModelRaw)[0] ?? cpuinfo?.model;
  const compatible = splitDtStrings(sys.text(`${dtBase}/compatible`));
  const tegraText = sys.text('etc/nv_tegra_release');
  const l4t = parseL4tRelease(tegraText);
  if (tegraText !== undefined && !l4t) sys.problems.push('/etc/nv_tegra_release does not start with "# Rnn (release), REVISION: x.y": L4T release unknown');

  let fp = matchBoard(model, compatible);
  if (!fp && tegraText !== undefined) fp = boardFingerprints.find((f) => f.boardClass === 'jetson-other');

  if (fp) {
    const board: BoardInfo = { family: fp.family, model: model ?? describeUnnamed(fp.family, fp.soc), boardClass: fp.boardClass, compatible };
    if (fp.soc) board.soc = fp.soc;
    if (fp.family === 'raspberry-pi' && cpuinfo?.revision) board.revision = cpuinfo.revision;
    if (fp.family === 'jetson') {
      if (l4t) board.l4t = l4t;
      const jp = jetpackFor(l4t);
      if (jp) board.jetpack = jp;
      if (tegraText === undefined) sys.problems.push('Jetson board without /etc/nv_tegra_release: L4T/JetPack release unknown');
    }
    return board;
  }
  const generic = arch === 'x86_64' || arch === 'i686' ? 'x86_64' : arch === 'aarch64' || arch.startsWith('arm') ? 'aarch64' : 'unknown';
  return {
    family: 'generic',
    model: model ?? dmiProduct(sys) ?? (generic === 'x86_64' ? 'generic x86_64 PC' : generic === 'aarch64' ? `generic ${arch} board` : `unknown ${arch} machine`),
    boardClass: generic,
    compatible,
  };
}

function describeUnnamed(family: string, soc: string | undefined): string {
  return `${family} board${soc ? ` (${soc})` : ''} without a device-tree model`;
}

/** PCs name themselves through DMI (/sys/class/dmi/id/product_name); used only for display. */
function dmiProduct(sys: Sysroot): string | undefined {
  const vendor = sys.line('sys/class/dmi/id/sys_vendor');
  const product = sys.line('sys/class/dmi/id/product_name');
  if (!product) return undefined;
  return vendor && !product.startsWith(vendor) ? `${vendor} ${product}` : product;
}
