import type { BoardClass, HardwareProfile } from '../../agent/select/hardware.js';

/**
 * Energy per inference, E = P_static * t + P_dynamic * FLOPs, per board class.
 *
 * P_static (W): what the board draws doing nothing useful (idle, headless, Ethernet up). It is paid for
 *   every millisecond an inference takes.
 * P_dynamic (J per GFLOP): the extra energy per unit of work. Derived from published "full load" power with
 *   a documented conversion: P_dynamic = (P_full - P_static) / sustainedGflops, i.e. the extra watts at full
 *   load divided by the work per second the device sustains at that load. So a model that keeps the device
 *   busy for its whole latency costs about P_full * t, and a light model on a fast device costs little more
 *   than idle power.
 *
 * `confidence`: 'quoted' = the watts are the source's own figures; 'approximate' = rounded from published
 * reviews/measurements and should be re-measured with a USB power meter before quoting results.
 * Sustained GFLOP/s are for the engine that runs the variant (CPU NEON/AVX, Jetson GPU fp16, Edge TPU int8 ops).
 */
export interface PowerEntry {
  boardClass: PowerClass;
  label: string;
  staticW: number;
  fullLoadW: number;
  sustainedGflops: number;
  confidence: 'quoted' | 'approximate';
  source: string;
}

export type PowerClass = 'rpi3' | 'rpi4' | 'rpi5' | 'rpi-zero2' | 'jetson-nano' | 'jetson-orin-nano' | 'coral-usb' | 'coral-pcie' | 'x86-desktop';

export const powerTable: Readonly<Record<PowerClass, PowerEntry>> = {
  'rpi-zero2': {
    boardClass: 'rpi-zero2', label: 'Raspberry Pi Zero 2 W', staticW: 0.6, fullLoadW: 3.0, sustainedGflops: 4,
    confidence: 'approximate',
    source: 'Zero 2 W reviews (about 120 mA idle, 580 mA all-core stress at 5 V); 4x Cortex-A53 @ 1 GHz NEON',
  },
  rpi3: {
    boardClass: 'rpi3', label: 'Raspberry Pi 3 B+', staticW: 1.9, fullLoadW: 5.1, sustainedGflops: 5,
    confidence: 'quoted',
    source: 'Raspberry Pi Dramble power benchmarks (pidramble.com/wiki/benchmarks/power-consumption): Pi 3 B+ idle 350 mA, 400% CPU 980 mA at 5 V',
  },
  rpi4: {
    boardClass: 'rpi4', label: 'Raspberry Pi 4 B', staticW: 2.7, fullLoadW: 6.4, sustainedGflops: 12,
    confidence: 'quoted',
    source: 'Raspberry Pi Dramble power benchmarks: Pi 4 B idle 540 mA (2.7 W), stress --cpu 4 1280 mA (6.4 W); ~12 GFLOP/s HPL on 4x Cortex-A72 @ 1.5 GHz',
  },
  rpi5: {
    boardClass: 'rpi5', label: 'Raspberry Pi 5', staticW: 3.0, fullLoadW: 8.5, sustainedGflops: 30,
    confidence: 'approximate',
    source: 'Pi 5 launch reviews (about 3 W idle, 8-9 W stress-ng all cores; ~30 GFLOP/s HPL on 4x Cortex-A76 @ 2.4 GHz)',
  },
  'jetson-nano': {
    boardClass: 'jetson-nano', label: 'Jetson Nano (4 GB)', staticW: 1.5, fullLoadW: 10, sustainedGflops: 236,
    confidence: 'approximate',
    source: 'NVIDIA Jetson Nano module data sheet: 10 W (MAXN) and 5 W nvpmodel budgets, 472 GFLOP/s fp16 peak (half taken as sustained); idle ~1.5 W from reviews',
  },
  'jetson-orin-nano': {
    boardClass: 'jetson-orin-nano', label: 'Jetson Orin Nano (8 GB)', staticW: 4, fullLoadW: 15, sustainedGflops: 5000,
    confidence: 'approximate',
    source: 'NVIDIA Jetson Orin Nano series data sheet: 7 W / 15 W power modes, 40 TOPS int8 (sparse); fp16 dense ~10 TFLOP/s peak, half taken as sustained; idle ~4 W from reviews',
  },
  'coral-usb': {
    boardClass: 'coral-usb', label: 'Coral USB Accelerator (Edge TPU)', staticW: 0.5, fullLoadW: 2.5, sustainedGflops: 4000,
    confidence: 'approximate',
    source: 'coral.ai Edge TPU performance: 4 TOPS int8 using 2 W (0.5 W per TOPS); idle draw ~0.5 W (USB Accelerator data sheet lists 500 mA at 5 V max current class)',
  },
  'coral-pcie': {
    boardClass: 'coral-pcie', label: 'Coral M.2/Mini PCIe Accelerator (Edge TPU)', staticW: 0.3, fullLoadW: 2.3, sustainedGflops: 4000,
    confidence: 'approximate',
    source: 'coral.ai Edge TPU performance: 4 TOPS int8 using 2 W; idle ~0.3 W',
  },
  'x86-desktop': {
    boardClass: 'x86-desktop', label: 'x86-64 desktop/server CPU', staticW: 30, fullLoadW: 90, sustainedGflops: 300,
    confidence: 'approximate',
    source: 'typical desktop package power (idle ~30 W at the wall, ~90 W all-core AVX2 load) and ~300 GFLOP/s sustained fp32 AVX2/FMA; measure your own',
  },
};

/** J per GFLOP, from the conversion above. */
export function dynamicJPerGflop(e: PowerEntry): number {
  return (e.fullLoadW - e.staticW) / e.sustainedGflops;
}

/**
 * E = P_static * t + P_dynamic * FLOPs, in joules. `latencyMs` is one inference; `flops` the model's FLOPs
 * (2 x multiply-accumulates, counted from the graph). With an accelerator, pass the host class as
 * `boardClass` and the accelerator class as `acceleratorClass`: the host idles during the inference
 * (its static power is paid) and the accelerator does the work (static + dynamic).
 */
export function energyPerInferenceJ(boardClass: PowerClass, latencyMs: number, flops: number, acceleratorClass?: PowerClass): number {
  const host = powerTable[boardClass];
  const t = Math.max(0, latencyMs) / 1000;
  const gflop = Math.max(0, flops) / 1e9;
  if (!acceleratorClass) return host.staticW * t + dynamicJPerGflop(host) * gflop;
  const acc = powerTable[acceleratorClass];
  return (host.staticW + acc.staticW) * t + dynamicJPerGflop(acc) * gflop;
}

/** Power class of a probed board (undefined when the table has no row for it). */
export function powerClassOf(profile: HardwareProfile): PowerClass | undefined {
  const map: Partial<Record<BoardClass, PowerClass>> = {
    rpi3: 'rpi3',
    rpi4: 'rpi4',
    rpi5: 'rpi5',
    'rpi-zero2': 'rpi-zero2',
    'jetson-nano': 'jetson-nano',
    'jetson-orin': 'jetson-orin-nano',
    x86_64: 'x86-desktop',
  };
  return map[profile.board.boardClass];
}

/** Power class of the accelerator a variant runs on, when it is an add-on with its own power. */
export function acceleratorPowerClass(profile: HardwareProfile, accelerator: string): PowerClass | undefined {
  if (accelerator !== 'edgetpu') return undefined;
  const tpu = profile.accelerators.find((a) => a.kind === 'edgetpu');
  if (!tpu) return undefined;
  return tpu.bus === 'usb' ? 'coral-usb' : 'coral-pcie';
}
