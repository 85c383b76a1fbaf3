/**
 * The hardware contract between the probe (drivers/probe, which reads a sysroot) and variant selection
 * (agent/select, pure policy). agent/ owns these types; drivers/ fills them in.
 */

export type BoardFamily = 'raspberry-pi' | 'jetson' | 'coral-devboard' | 'generic';

/**
 * Coarse board class: the key of the power table (drivers/probe/power.ts) and the root of the device-class
 * names used for manifest latency estimates (agent/select/device-class.ts).
 */
export type BoardClass =
  | 'rpi3'
  | 'rpi4'
  | 'rpi5'
  | 'rpi-zero2'
  | 'rpi-other'
  | 'jetson-nano'
  | 'jetson-tx2'
  | 'jetson-xavier'
  | 'jetson-orin'
  | 'jetson-other'
  | 'coral-devboard'
  | 'x86_64'
  | 'aarch64'
  | 'unknown';

export interface BoardInfo {
  family: BoardFamily;
  /** Model string as the board reports it (/proc/device-tree/model), or a generic description. */
  model: string;
  boardClass: BoardClass;
  /** SoC name when known (e.g. BCM2711, tegra234, i.MX8MQ). */
  soc?: string;
  /** Device-tree compatible strings, most specific first. */
  compatible: string[];
  /** Raspberry Pi revision code from /proc/cpuinfo (e.g. "c03111"). */
  revision?: string;
  /** Jetson Linux (L4T) release from /etc/nv_tegra_release, e.g. "32.7.1". */
  l4t?: string;
  /** JetPack release matching the L4T release, e.g. "4.6.1" (or "6.x" when only the major is known). */
  jetpack?: string;
}

export interface CpuInfo {
  /** Machine architecture as `uname -m` prints it: x86_64, aarch64, armv7l... */
  arch: string;
  /** Logical processors. */
  cores: number;
  /** "model name" (x86) or the core name decoded from implementer/part (Arm), e.g. "Cortex-A72". */
  modelName: string;
  /** SIMD and ML-relevant features found: neon, asimd, asimddp, asimdhp, i8mm, sve, avx2, avx512f, avx512_vnni... */
  features: string[];
}

export interface MemoryInfo {
  totalMB: number | null;
  availableMB: number | null;
}

export interface ThrottleFlags {
  underVoltage: boolean;
  freqCapped: boolean;
  throttled: boolean;
  softTempLimit: boolean;
}

/** Decoded Raspberry Pi firmware throttle word (`vcgencmd get_throttled`). */
export interface ThrottleState {
  raw: number;
  source: 'vcgencmd' | 'sysfs';
  now: ThrottleFlags;
  sinceBoot: ThrottleFlags;
  /** Human phrases for the bits that are set, e.g. "under-voltage now", "throttled since boot". */
  active: string[];
}

export interface ThermalZone {
  /** sysfs zone name, e.g. thermal_zone0. */
  zone: string;
  /** Zone type, e.g. cpu-thermal, CPU-therm, x86_pkg_temp. */
  type: string;
  tempC: number | null;
}

export interface ThermalInfo {
  zones: ThermalZone[];
  throttled?: ThrottleState;
  /** Raspberry Pi under-voltage alarm from the `rpi_volt` hwmon (in0_lcrit_alarm), when present. */
  underVoltageAlarm?: boolean;
}

export type AcceleratorKindProbed = 'cpu' | 'edgetpu' | 'cuda';
export type AcceleratorBus = 'usb' | 'pcie' | 'soc' | null;

export interface AcceleratorInfo {
  kind: AcceleratorKindProbed;
  bus: AcceleratorBus;
  /** Human name, e.g. "Coral USB Accelerator", "Coral M.2/PCIe Accelerator (apex_0)". */
  name: string;
  /** USB or PCI vendor:product id as read from sysfs. */
  id?: string;
  /** Where it was found: a sysfs folder or a /dev node (relative to the probed root). */
  path?: string;
  /** Device node the runtime opens (e.g. /dev/apex_0). */
  device?: string;
  /** USB link speed from sysfs `speed` (Mb/s): 480 = USB 2, 5000 = USB 3. */
  usbSpeedMbps?: number;
  /** Coral USB: 'needs-firmware' until libedgetpu uploads its firmware (1a6e:089a), then 'ready' (18d1:9302). */
  state?: 'ready' | 'needs-firmware' | 'driver-missing';
  tempC?: number;
  /** Libraries found for this accelerator (Jetson: cuda, tensorrt versions). */
  libraries?: Record<string, string>;
  warnings: string[];
}

export interface HardwareProfile {
  /** The filesystem root that was probed ('/' on the device, a fixture folder in tests). */
  root: string;
  board: BoardInfo;
  cpu: CpuInfo;
  memory: MemoryInfo;
  thermal: ThermalInfo;
  /** Always contains the CPU first. */
  accelerators: AcceleratorInfo[];
  /** What could not be read or made sense of; the rest of the profile is still valid. */
  problems: string[];
}

/** Usable or not, with the reason when not (and details when it is). */
export interface Usability {
  usable: boolean;
  reason?: string;
  detail?: string;
}

/** Which runtimes and accelerators can really run a model on this machine. */
export interface Capabilities {
  onnxruntime: Usability & {
    version?: string;
    /** Execution providers, each tried by creating a session on a tiny model. */
    providers: Record<'cpu' | 'cuda' | 'tensorrt', Usability>;
  };
  tflite: Usability & { version?: string; library?: string };
  /** libedgetpu loadable (and from where). */
  edgetpuLibrary: Usability & { library?: string };
  /** Per accelerator kind a variant can target: usable only when library AND device are present. */
  accelerators: Record<'cpu' | 'cuda' | 'tensorrt' | 'edgetpu', Usability>;
  /** Plain statements about this platform (e.g. "the npm onnxruntime-node for linux/arm64 is CPU-only"). */
  notes: string[];
}
