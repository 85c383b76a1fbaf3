import type { BoardClass, HardwareProfile } from './hardware.js';

/**
 * Device classes: the keys of a manifest variant's `latencyMs` estimates. One class per (board, engine):
 *   cpu:     x86_64-cpu, aarch64-cpu, rpi-zero2-cpu, rpi3-cpu, rpi4-cpu, rpi5-cpu, jetson-nano-cpu,
 *            jetson-xavier-cpu, jetson-orin-cpu, coral-devboard-cpu
 *   gpu:     jetson-nano-gpu, jetson-xavier-gpu, jetson-orin-gpu (cuda and tensorrt variants alike)
 *   edgetpu: coral-usb3, coral-usb2, coral-pcie (M.2/Mini PCIe cards and the Dev Board's TPU)
 *
 * Nearest estimate: when a variant has no estimate for this machine's class, the estimate of another class
 * of the same engine is scaled by the ratio of their relative speeds, and the class whose speed is closest
 * (smallest |ln(speed ratio)|) is used. The speeds below are rough, documented ratios (Pi 4 CPU = 1,
 * Coral PCIe = 1, Jetson Nano GPU = 1); a measured `edge-agent bench` result always replaces them.
 */
export type Engine = 'cpu' | 'gpu' | 'edgetpu';

export interface ClassSpeed {
  engine: Engine;
  speed: number;
  why: string;
}

export const classSpeeds: Readonly<Record<string, ClassSpeed>> = {
  'rpi-zero2-cpu': { engine: 'cpu', speed: 0.35, why: '4x Cortex-A53 @ 1.0 GHz vs Pi 4 4x A72 @ 1.5 GHz (A72 ~1.9x A53 per clock)' },
  'rpi3-cpu': { engine: 'cpu', speed: 0.45, why: '4x Cortex-A53 @ 1.4 GHz (3 B+)' },
  'coral-devboard-cpu': { engine: 'cpu', speed: 0.5, why: '4x Cortex-A53 @ 1.5 GHz' },
  'jetson-nano-cpu': { engine: 'cpu', speed: 0.9, why: '4x Cortex-A57 @ 1.43 GHz' },
  'rpi4-cpu': { engine: 'cpu', speed: 1, why: 'reference: 4x Cortex-A72 @ 1.5 GHz' },
  'aarch64-cpu': { engine: 'cpu', speed: 1, why: 'unknown arm64 board, assumed like a Pi 4' },
  'jetson-xavier-cpu': { engine: 'cpu', speed: 1.8, why: '6-8x NVIDIA Carmel @ 1.4-2.2 GHz' },
  'rpi5-cpu': { engine: 'cpu', speed: 2.5, why: '4x Cortex-A76 @ 2.4 GHz: 2-3x a Pi 4 in published CPU inference benchmarks' },
  'jetson-orin-cpu': { engine: 'cpu', speed: 3, why: '6x Cortex-A78AE @ 1.5-1.7 GHz' },
  'x86_64-cpu': { engine: 'cpu', speed: 6, why: 'typical desktop/server cores with AVX2 (varies widely: bench it)' },
  'jetson-nano-gpu': { engine: 'gpu', speed: 1, why: 'reference: 128-core Maxwell, 472 GFLOP/s fp16' },
  'jetson-xavier-gpu': { engine: 'gpu', speed: 4, why: '384-core Volta + tensor cores (Xavier NX)' },
  'jetson-orin-gpu': { engine: 'gpu', speed: 8, why: '1024-core Ampere + tensor cores (Orin Nano 8 GB)' },
  'coral-pcie': { engine: 'edgetpu', speed: 1, why: 'reference: Edge TPU on PCIe' },
  'coral-usb3': { engine: 'edgetpu', speed: 0.9, why: 'same Edge TPU, USB 3 transfer overhead (coral.ai benchmarks list USB and PCIe within ~10%)' },
  'coral-usb2': { engine: 'edgetpu', speed: 0.33, why: 'USB 2 link: about 3x slower than USB 3 (Coral USB Accelerator docs; Frigate issues)' },
};

const cpuClassOf: Partial<Record<BoardClass, string>> = {
  rpi3: 'rpi3-cpu',
  rpi4: 'rpi4-cpu',
  rpi5: 'rpi5-cpu',
  'rpi-zero2': 'rpi-zero2-cpu',
  'rpi-other': 'rpi3-cpu',
  'jetson-nano': 'jetson-nano-cpu',
  'jetson-tx2': 'jetson-nano-cpu',
  'jetson-xavier': 'jetson-xavier-cpu',
  'jetson-orin': 'jetson-orin-cpu',
  'jetson-other': 'aarch64-cpu',
  'coral-devboard': 'coral-devboard-cpu',
  x86_64: 'x86_64-cpu',
  aarch64: 'aarch64-cpu',
};

/** This machine's device class for a variant's accelerator, or undefined when that engine is absent. */
export function deviceClassFor(profile: HardwareProfile, accelerator: string): string | undefined {
  if (accelerator === 'cpu') return cpuClassOf[profile.board.boardClass] ?? 'aarch64-cpu';
  if (accelerator === 'cuda' || accelerator === 'tensorrt') {
    if (!profile.accelerators.some((a) => a.kind === 'cuda')) return undefined;
    const bc = profile.board.boardClass;
    return bc === 'jetson-orin' ? 'jetson-orin-gpu' : bc === 'jetson-xavier' ? 'jetson-xavier-gpu' : 'jetson-nano-gpu';
  }
  if (accelerator === 'edgetpu') {
    const tpu = profile.accelerators.find((a) => a.kind === 'edgetpu' && a.state !== 'driver-missing') ?? profile.accelerators.find((a) => a.kind === 'edgetpu');
    if (!tpu) return undefined;
    if (tpu.bus === 'usb') return (tpu.usbSpeedMbps ?? 5000) < 5000 ? 'coral-usb2' : 'coral-usb3';
    return 'coral-pcie';
  }
  return undefined;
}

export interface LatencyEstimate {
  latencyMs: number;
  /** Which manifest class it came from and how it was scaled. */
  source: string;
}

/** Manifest latency estimate for `deviceClass`: exact, or the nearest class of the same engine, scaled. */
export function estimateLatency(latencyMs: Record<string, number>, deviceClass: string): LatencyEstimate | undefined {
  const exact = latencyMs[deviceClass];
  if (exact !== undefined) return { latencyMs: exact, source: `manifest estimate for ${deviceClass}` };
  const own = classSpeeds[deviceClass];
  if (!own) return undefined;
  let best: { cls: string; ms: number; distance: number; speed: number } | undefined;
  for (const [cls, ms] of Object.entries(latencyMs)) {
    const other = classSpeeds[cls];
    if (!other || other.engine !== own.engine) continue;
    const distance = Math.abs(Math.log(other.speed / own.speed));
    if (!best || distance < best.distance) best = { cls, ms, distance, speed: other.speed };
  }
  if (!best) return undefined;
  const factor = best.speed / own.speed;
  return {
    latencyMs: Math.round(best.ms * factor * 10) / 10,
    source: `scaled from the manifest estimate for ${best.cls} (${best.ms} ms x ${factor.toFixed(2)}, nearest class to ${deviceClass})`,
  };
}
