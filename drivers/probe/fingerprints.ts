import type { BoardClass, BoardFamily } from '../../agent/select/hardware.js';

/**
 * Hardware facts as data. Each entry cites where the fact comes from; the matchers in match.ts are pure
 * functions over these tables. Add a board by adding a row, not code.
 */

export interface BoardFingerprint {
  family: BoardFamily;
  boardClass: BoardClass;
  soc?: string;
  /** Matches /proc/device-tree/model (case-sensitive prefix or regex). */
  model?: RegExp;
  /** Matches any device-tree compatible string. */
  compatible?: RegExp;
  source: string;
}

/**
 * Most specific rows first: the first row whose model OR compatible matches wins.
 * Raspberry Pi model strings: the firmware's device-tree `model` property, listed with the revision codes at
 * https://www.raspberrypi.com/documentation/computers/raspberry-pi.html#raspberry-pi-revision-codes ;
 * compatible strings: arch/arm/boot/dts/broadcom/bcm2711-rpi-4-b.dts ("raspberrypi,4-model-b", "brcm,bcm2711"),
 * bcm2712-rpi-5-b.dts ("raspberrypi,5-model-b", "brcm,bcm2712"), bcm2710-rpi-zero-2-w.dts
 * ("raspberrypi,model-zero-2-w", "brcm,bcm2837") in github.com/raspberrypi/linux.
 */
export const boardFingerprints: readonly BoardFingerprint[] = [
  { family: 'raspberry-pi', boardClass: 'rpi5', soc: 'BCM2712', model: /^Raspberry Pi (5|500)\b|^Raspberry Pi Compute Module 5\b/, compatible: /^brcm,bcm2712$/, source: 'raspberrypi/linux bcm2712-rpi-5-b.dts; Pi revision-code table' },
  { family: 'raspberry-pi', boardClass: 'rpi4', soc: 'BCM2711', model: /^Raspberry Pi (4|400)\b|^Raspberry Pi Compute Module 4/, compatible: /^brcm,bcm2711$/, source: 'raspberrypi/linux bcm2711-rpi-4-b.dts; Pi revision-code table' },
  { family: 'raspberry-pi', boardClass: 'rpi-zero2', soc: 'BCM2710A1', model: /^Raspberry Pi Zero 2/, compatible: /^raspberrypi,model-zero-2/, source: 'raspberrypi/linux bcm2710-rpi-zero-2-w.dts' },
  { family: 'raspberry-pi', boardClass: 'rpi3', soc: 'BCM2837', model: /^Raspberry Pi 3\b|^Raspberry Pi Compute Module 3/, compatible: /^raspberrypi,3-/, source: 'raspberrypi/linux bcm2710-rpi-3-b.dts' },
  { family: 'raspberry-pi', boardClass: 'rpi-other', model: /^Raspberry Pi/, compatible: /^raspberrypi,/, source: 'Pi revision-code table (older models)' },
  /**
   * Jetson: compatible strings of the Jetson Linux device trees. Nano: "nvidia,p3449-0000-b00+p3448-0000-b00",
   * "nvidia,jetson-nano", "nvidia,tegra210" (L4T R32 tegra210-p3448-0000-p3449-0000-b00.dts);
   * Orin Nano devkit: "nvidia,p3768-0000+p3767-0005", "nvidia,p3767-0005", "nvidia,tegra234" (L4T R36
   * tegra234-p3768-0000+p3767-0005-nv.dts); Xavier: tegra194; TX2: tegra186.
   */
  { family: 'jetson', boardClass: 'jetson-orin', soc: 'tegra234', model: /^NVIDIA Jetson .*Orin/, compatible: /^nvidia,tegra234$/, source: 'Jetson Linux R35/R36 tegra234 device trees' },
  { family: 'jetson', boardClass: 'jetson-xavier', soc: 'tegra194', model: /^NVIDIA Jetson .*Xavier/, compatible: /^nvidia,tegra194$/, source: 'Jetson Linux R32/R35 tegra194 device trees' },
  { family: 'jetson', boardClass: 'jetson-tx2', soc: 'tegra186', model: /^(NVIDIA )?(Jetson|quill).*TX2/i, compatible: /^nvidia,tegra186$/, source: 'Jetson Linux R32 tegra186 device trees' },
  { family: 'jetson', boardClass: 'jetson-nano', soc: 'tegra210', model: /^NVIDIA Jetson Nano/, compatible: /^nvidia,tegra210$/, source: 'Jetson Linux R32 tegra210-p3448 device trees' },
  { family: 'jetson', boardClass: 'jetson-other', compatible: /^nvidia,tegra/, source: 'Jetson Linux device trees (nvidia,tegraXXX)' },
  /**
   * Coral Dev Board: model "Freescale i.MX8MQ Phanbell", compatible "fsl,imx8mq-phanbell", "fsl,imx8mq"
   * (Mendel Linux fsl-imx8mq-phanbell.dts in coral.googlesource.com linux-imx; `lshw` on a Dev Board prints the
   * same system name).
   */
  { family: 'coral-devboard', boardClass: 'coral-devboard', soc: 'i.MX8MQ', model: /Phanbell/, compatible: /^fsl,imx8mq-phanbell$/, source: 'Mendel fsl-imx8mq-phanbell.dts' },
];

/**
 * Coral Edge TPU on USB. Before libedgetpu uploads the firmware the device enumerates as 1a6e:089a
 * (Global Unichip Corp.); after, it re-enumerates as 18d1:9302 (Google Inc.). Source: Coral "Get started with
 * the USB Accelerator" and libedgetpu's udev rules (99-edgetpu-accelerator.rules lists both ids).
 */
export const coralUsbIds: ReadonlyArray<{ vendor: string; product: string; state: 'needs-firmware' | 'ready'; label: string; source: string }> = [
  { vendor: '1a6e', product: '089a', state: 'needs-firmware', label: 'Global Unichip Corp. (Edge TPU before firmware load)', source: 'libedgetpu debian/edgetpu-accelerator.rules' },
  { vendor: '18d1', product: '9302', state: 'ready', label: 'Google Inc. (Edge TPU, firmware loaded)', source: 'libedgetpu debian/edgetpu-accelerator.rules' },
];

/** Coral M.2 / Mini PCIe (and the Dev Board's internal Edge TPU): PCI 1ac1:089a, APEX_PCI_VENDOR_ID/DEVICE_ID in google/gasket-driver apex_driver.c. */
export const coralPciId = { vendor: '0x1ac1', device: '0x089a', source: 'google/gasket-driver apex_driver.c' } as const;

/** The gasket apex driver starts throttling the TPU clock at trip_point0 = 85 °C (DEFAULT_TRIP_POINT0_TEMP in apex_driver.c). */
export const apexThrottleTempC = 85;

/** USB link speeds from sysfs `speed` (Mb/s), Documentation/ABI/testing/sysfs-bus-usb. Below 5000 is not USB 3. */
export const usb3SpeedMbps = 5000;

/**
 * Jetson integrated GPU device nodes: the nvgpu driver's legacy nodes (/dev/nvhost-ctrl-gpu, /dev/nvhost-gpu,
 * /dev/nvhost-as-gpu on L4T R32) and its newer hierarchy (/dev/nvgpu/igpu0/ctrl on R35/R36); see the nvgpu uapi
 * header include/uapi/linux/nvgpu-ctrl.h ("Legacy node: /dev/nvhost-ctrl-gpu, New hierarchy: /dev/nvgpu/igpu0/ctrl").
 * Edge Impulse's runner-downloader probes /dev/nvhost-as-gpu the same way.
 */
export const jetsonGpuNodes = ['dev/nvhost-ctrl-gpu', 'dev/nvhost-gpu', 'dev/nvhost-as-gpu', 'dev/nvgpu/igpu0/ctrl'] as const;

/** JetPack release per L4T release: NVIDIA JetPack archive (developer.nvidia.com/embedded/jetpack-archive). */
export const jetpackByL4t: Readonly<Record<string, string>> = {
  '32.6.1': '4.6',
  '32.7.1': '4.6.1',
  '32.7.2': '4.6.2',
  '32.7.3': '4.6.3',
  '32.7.4': '4.6.4',
  '32.7.5': '4.6.5',
  '32.7.6': '4.6.6',
  '35.1.0': '5.0.2',
  '35.2.1': '5.1',
  '35.3.1': '5.1.1',
  '35.4.1': '5.1.2',
  '35.5.0': '5.1.3',
  '35.6.0': '5.1.4',
  '36.3.0': '6.0',
  '36.4.0': '6.1',
  '36.4.3': '6.2',
  '36.4.4': '6.2.1',
};
/** When only the L4T major is known: R32 = JetPack 4, R35 = JetPack 5, R36 = JetPack 6 (same archive). */
export const jetpackMajorByL4tMajor: Readonly<Record<string, string>> = { '32': '4', '35': '5', '36': '6', '38': '7', '39': '7' };

/**
 * Arm core names by (implementer, part) from /proc/cpuinfo. Source: Linux arch/arm64/include/asm/cputype.h
 * (ARM_CPU_IMP_ARM = 0x41, ARM_CPU_PART_CORTEX_A53 = 0xD03 ...; NVIDIA = 0x4e, Carmel = 0x004).
 */
export const armCoreNames: Readonly<Record<string, string>> = {
  '0x41:0xd03': 'Cortex-A53',
  '0x41:0xd04': 'Cortex-A35',
  '0x41:0xd05': 'Cortex-A55',
  '0x41:0xd07': 'Cortex-A57',
  '0x41:0xd08': 'Cortex-A72',
  '0x41:0xd09': 'Cortex-A73',
  '0x41:0xd0a': 'Cortex-A75',
  '0x41:0xd0b': 'Cortex-A76',
  '0x41:0xd0c': 'Neoverse-N1',
  '0x41:0xd0d': 'Cortex-A77',
  '0x41:0xd41': 'Cortex-A78',
  '0x41:0xd42': 'Cortex-A78AE',
  '0x41:0xd40': 'Neoverse-V1',
  '0x41:0xd49': 'Neoverse-N2',
  '0x4e:0x004': 'NVIDIA Carmel',
};

/**
 * CPU flags that matter for inference speed, as the kernel names them in /proc/cpuinfo
 * (x86: arch/x86/include/asm/cpufeatures.h; arm64: "Features" names in arch/arm64/kernel/cpuinfo.c hwcap_str).
 */
export const interestingCpuFeatures: readonly string[] = [
  // Arm
  'neon', 'asimd', 'asimdhp', 'asimddp', 'asimdrdm', 'fphp', 'i8mm', 'bf16', 'sve', 'sve2', 'vfpv4',
  // x86
  'sse4_1', 'sse4_2', 'avx', 'fma', 'f16c', 'avx2', 'avx512f', 'avx512bw', 'avx512vl', 'avx512_vnni', 'avx_vnni', 'avx512_bf16', 'amx_tile', 'amx_int8',
];
