import type { AcceleratorInfo, BoardInfo, CpuInfo } from '../../agent/select/hardware.js';
import { apexThrottleTempC, coralPciId, coralUsbIds, jetsonGpuNodes, usb3SpeedMbps } from './fingerprints.js';
import type { Sysroot } from './sysroot.js';

export function cpuAccelerator(cpu: CpuInfo): AcceleratorInfo {
  const warnings: string[] = [];
  if ((cpu.arch === 'aarch64' || cpu.arch.startsWith('arm')) && !cpu.features.includes('neon')) {
    warnings.push('no NEON/ASIMD listed in /proc/cpuinfo: CPU inference will be very slow');
  }
  return { kind: 'cpu', bus: null, name: `${cpu.modelName} x${cpu.cores || '?'} (${cpu.arch})`, warnings };
}

/**
 * Coral USB Accelerators from sysfs (/sys/bus/usb/devices/<port>/idVendor, idProduct, speed;
 * Documentation/ABI/testing/sysfs-bus-usb). No lsusb: usbutils is often missing on minimal images.
 */
export function probeCoralUsb(sys: Sysroot): AcceleratorInfo[] {
  const found: AcceleratorInfo[] = [];
  for (const dev of sys.list('sys/bus/usb/devices')) {
    const base = `sys/bus/usb/devices/${dev}`;
    const vendor = sys.line(`${base}/idVendor`)?.toLowerCase();
    if (!vendor) continue; // interfaces (1-1:1.0) have no idVendor
    const product = sys.line(`${base}/idProduct`)?.toLowerCase();
    const match = coralUsbIds.find((c) => c.vendor === vendor && c.product === product);
    if (!match) continue;
    const speedText = sys.line(`${base}/speed`);
    const speed = speedText === undefined ? undefined : Number(speedText);
    const warnings: string[] = [];
    if (match.state === 'needs-firmware') {
      warnings.push(
        `enumerated as ${vendor}:${product} (${match.label}): libedgetpu uploads the firmware when a model is first loaded, then it re-enumerates as 18d1:9302`,
      );
    }
    if (speed !== undefined && Number.isFinite(speed) && speed < usb3SpeedMbps) {
      warnings.push(`USB link at ${speed} Mb/s (USB 2): inference about 3x slower than on USB 3 (5000 Mb/s); plug it into a USB 3 (blue) port with a USB 3 cable`);
    } else if (speed === undefined || !Number.isFinite(speed)) {
      warnings.push('USB link speed unknown (no readable sysfs `speed`)');
    }
    const acc: AcceleratorInfo = {
      kind: 'edgetpu',
      bus: 'usb',
      name: 'Coral USB Accelerator',
      id: `${vendor}:${product}`,
      path: `/${base}`,
      state: match.state,
      warnings,
    };
    if (speed !== undefined && Number.isFinite(speed)) acc.usbSpeedMbps = speed;
    found.push(acc);
  }
  return found;
}

/**
 * Coral M.2 / Mini PCIe cards and the Dev Board's internal TPU: the gasket `apex` driver creates /dev/apex_N
 * and /sys/class/apex/apex_N (with `temp` in millidegrees, apex_driver.c). A PCI function 1ac1:089a without
 * an apex node means the driver is not loaded. /dev nodes are only checked for existence.
 */
export function probeCoralPcie(sys: Sysroot, board: BoardInfo): AcceleratorInfo[] {
  const names = new Set<string>();
  for (const e of sys.list('dev')) if (/^apex_\d+$/.test(e)) names.add(e);
  for (const e of sys.list('sys/class/apex')) if (/^apex_\d+$/.test(e)) names.add(e);
  const found: AcceleratorInfo[] = [];
  const label = board.family === 'coral-devboard' ? 'Coral Dev Board Edge TPU' : 'Coral M.2/PCIe Accelerator';
  for (const name of [...names].sort()) {
    const warnings: string[] = [];
    const cls = `sys/class/apex/${name}`;
    const hasDev = sys.exists(`dev/${name}`);
    if (!hasDev) warnings.push(`/${cls} exists but /dev/${name} does not: check the udev rule (gasket-dkms) and that the user is in the apex group`);
    if (!sys.isDir(cls)) warnings.push(`no /${cls}: temperature unavailable`);
    const vendor = sys.line(`${cls}/device/vendor`);
    const device = sys.line(`${cls}/device/device`);
    const acc: AcceleratorInfo = { kind: 'edgetpu', bus: 'pcie', name: `${label} (${name})`, device: `/dev/${name}`, path: `/${cls}`, state: hasDev ? 'ready' : 'driver-missing', warnings };
    if (vendor && device) {
      acc.id = `${vendor.replace(/^0x/, '')}:${device.replace(/^0x/, '')}`;
      if (vendor !== coralPciId.vendor || device !== coralPciId.device) warnings.push(`PCI id ${vendor}:${device} is not the Edge TPU's 1ac1:089a`);
    } else {
      acc.id = '1ac1:089a';
    }
    const temp = sys.line(`${cls}/temp`);
    if (temp !== undefined && Number.isFinite(Number(temp))) {
      acc.tempC = Math.round(Number(temp) / 100) / 10;
      if (acc.tempC >= apexThrottleTempC) warnings.push(`Edge TPU at ${acc.tempC} °C: the apex driver throttles its clock from ${apexThrottleTempC} °C`);
    }
    found.push(acc);
  }
  if (found.length === 0) {
    for (const fn of sys.list('sys/bus/pci/devices')) {
      const v = sys.line(`sys/bus/pci/devices/${fn}/vendor`);
      const d = sys.line(`sys/bus/pci/devices/${fn}/device`);
      if (v === coralPciId.vendor && d === coralPciId.device) {
        found.push({
          kind: 'edgetpu',
          bus: 'pcie',
          name: `${label} (PCI ${fn})`,
          id: '1ac1:089a',
          path: `/sys/bus/pci/devices/${fn}`,
          state: 'driver-missing',
          warnings: ['Edge TPU on PCIe but no /dev/apex_N: the gasket/apex driver is not loaded (install gasket-dkms from the Coral apt repo, or google/gasket-driver)'],
        });
      }
    }
  }
  return found;
}

/**
 * Jetson integrated GPU: the nvgpu device nodes plus CUDA (/usr/local/cuda-X.Y) and TensorRT
 * (/usr/lib/aarch64-linux-gnu/libnvinfer.so.X.Y.Z) as JetPack installs them.
 */
export function probeJetsonGpu(sys: Sysroot, board: BoardInfo): AcceleratorInfo[] {
  const nodes = jetsonGpuNodes.filter((n) => sys.exists(n));
  if (nodes.length === 0) {
    if (board.family === 'jetson') sys.problems.push(`Jetson board but no GPU device node (${jetsonGpuNodes.map((n) => `/${n}`).join(', ')}): is the nvgpu driver loaded?`);
    return [];
  }
  const warnings: string[] = [];
  const libraries: Record<string, string> = {};
  const cuda = cudaVersion(sys);
  if (cuda) libraries.cuda = cuda;
  else warnings.push('no CUDA toolkit under /usr/local/cuda*: install the JetPack CUDA packages (nvidia-jetpack)');
  const trt = tensorrtVersion(sys);
  if (trt) libraries.tensorrt = trt;
  else warnings.push('TensorRT (libnvinfer.so) not found in /usr/lib/aarch64-linux-gnu: TensorRT variants cannot run');
  const gen = { 'jetson-nano': 'Maxwell', 'jetson-tx2': 'Pascal', 'jetson-xavier': 'Volta', 'jetson-orin': 'Ampere' }[board.boardClass as string];
  return [{ kind: 'cuda', bus: 'soc', name: `NVIDIA Tegra integrated GPU${gen ? ` (${gen})` : ''}`, device: `/${nodes[0]}`, libraries, warnings }];
}

function cudaVersion(sys: Sysroot): string | undefined {
  const dirs = sys.list('usr/local').filter((d) => /^cuda(-\d+\.\d+)?$/.test(d));
  for (const d of dirs.reverse()) {
    const json = sys.text(`usr/local/${d}/version.json`);
    if (json) {
      try {
        const v = (JSON.parse(json) as { cuda?: { version?: string } }).cuda?.version;
        if (v) return v;
      } catch {
        sys.problems.push(`/usr/local/${d}/version.json is not valid JSON`);
      }
    }
    const txt = sys.line(`usr/local/${d}/version.txt`);
    const m = txt ? /CUDA Version (\d+\.\d+(?:\.\d+)?)/.exec(txt) : null;
    if (m) return m[1];
    const fromName = /^cuda-(\d+\.\d+)$/.exec(d);
    if (fromName) return fromName[1];
  }
  return undefined;
}

function tensorrtVersion(sys: Sysroot): string | undefined {
  let best: string | undefined;
  for (const f of sys.list('usr/lib/aarch64-linux-gnu')) {
    const m = /^libnvinfer\.so(?:\.(\d+(?:\.\d+)*))?$/.exec(f);
    if (!m) continue;
    const v = m[1] ?? 'unknown version';
    if (!best || v.length > best.length || best === 'unknown version') best = v;
  }
  return best;
}
