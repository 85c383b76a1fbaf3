/**
 * The Edge TPU delegate through libedgetpu's C API (header `edgetpu_c.h`, google-coral/edgetpu
 * libedgetpu/edgetpu_c.h; implementation google-coral/libedgetpu tflite/edgetpu_c.cc):
 *   enum edgetpu_device_type { EDGETPU_APEX_PCI = 0, EDGETPU_APEX_USB = 1 };
 *   struct edgetpu_device { enum edgetpu_device_type type; const char* path; };
 *   struct edgetpu_option { const char* name; const char* value; };
 *   struct edgetpu_device* edgetpu_list_devices(size_t* num_devices);   // NULL and 0 when none
 *   void edgetpu_free_devices(struct edgetpu_device* dev);
 *   TfLiteDelegate* edgetpu_create_delegate(enum edgetpu_device_type type, const char* name,
 *                                           const struct edgetpu_option* options, size_t num_options);  // NULL on failure
 *   void edgetpu_free_delegate(TfLiteDelegate* delegate);
 *   const char* edgetpu_version();
 * The library is `libedgetpu.so.1` from the Coral apt packages libedgetpu1-std / libedgetpu1-max.
 */
import koffi from 'koffi';
import { AgentError, messageOf } from '../../../agent/errors.js';
import type { Ptr } from './capi.js';

export const EDGETPU_APEX_PCI = 0;
export const EDGETPU_APEX_USB = 1;

export interface EdgeTpuDevice {
  type: 'usb' | 'pci';
  path: string;
}

/** A parsed device string: `usb`, `usb:N`, `pci`, `pci:N` (N = index among devices of that type), or empty = any. */
export interface DeviceSelector {
  type?: 'usb' | 'pci';
  index?: number;
}

export function parseDeviceString(s: string | undefined): DeviceSelector {
  if (s === undefined || s === '') return {};
  const m = /^(usb|pci)(?::(\d+))?$/.exec(s);
  if (!m) {
    throw new AgentError('USAGE', `Edge TPU device "${s}" is not valid`, { fix: 'use usb, usb:N, pci or pci:N (N counts from 0), or leave it empty for the first device' });
  }
  return { type: m[1] as 'usb' | 'pci', index: m[2] === undefined ? undefined : Number(m[2]) };
}

export interface EdgeTpuApi {
  path: string;
  version: string;
  listDevices(): EdgeTpuDevice[];
  createDelegate(type: number, name: string | null): Ptr;
  freeDelegate(d: Ptr): void;
}

export const EDGETPU_INSTALL_FIX =
  'install the Edge TPU runtime: add the Coral apt repository (https://coral.ai/docs/accelerator/get-started/) and `sudo apt-get install libedgetpu1-std`, then re-plug the Coral; or use a CPU variant of the model';

let cached: EdgeTpuApi | undefined;

/** Loads libedgetpu (EDGE_AGENT_EDGETPU_LIB overrides the name); BACKEND_UNAVAILABLE with the install fix when missing. */
export function loadEdgeTpuApi(env: NodeJS.ProcessEnv = process.env): EdgeTpuApi {
  const path = env.EDGE_AGENT_EDGETPU_LIB || 'libedgetpu.so.1';
  if (cached && cached.path === path) return cached;
  let lib: ReturnType<typeof koffi.load>;
  try {
    lib = koffi.load(path);
  } catch (err) {
    throw new AgentError('BACKEND_UNAVAILABLE', `Edge TPU runtime ${path} cannot be loaded (${messageOf(err).split('\n')[0]})`, { fix: EDGETPU_INSTALL_FIX, cause: err });
  }
  const Device = koffi.struct('edgetpu_device', { type: 'int', path: 'const char *' });
  const list = lib.func('edgetpu_list_devices', 'void *', [koffi.out(koffi.pointer('size_t'))]);
  const free = lib.func('void edgetpu_free_devices(void *dev)');
  const create = lib.func('void *edgetpu_create_delegate(int type, const char *name, const void *options, size_t num_options)');
  const freeDelegate = lib.func('void edgetpu_free_delegate(void *d)');
  let version = 'unknown';
  try {
    version = (lib.func('const char *edgetpu_version()') as () => string)();
  } catch {
    // edgetpu_version is in every released libedgetpu; tolerate forks without it.
  }
  cached = {
    path,
    version,
    listDevices: () => {
      const n = [0];
      const p = list(n) as Ptr;
      const count = Number(n[0]);
      if (!p || count === 0) return [];
      try {
        const arr = koffi.decode(p, koffi.array(Device, count)) as Array<{ type: number; path: string }>;
        return arr.map((d) => ({ type: d.type === EDGETPU_APEX_USB ? 'usb' : 'pci', path: d.path }));
      } finally {
        free(p);
      }
    },
    createDelegate: (type, name) => create(type, name, null, 0) as Ptr,
    freeDelegate: (d) => freeDelegate(d),
  };
  return cached;
}

/**
 * Opens the selected Edge TPU and returns its delegate. "usb:1" is the second USB device found by
 * edgetpu_list_devices; without an index, libedgetpu opens the first device of the type itself.
 */
export function createEdgeTpuDelegate(api: EdgeTpuApi, device: string | undefined): { delegate: Ptr; device: string } {
  const sel = parseDeviceString(device);
  const devices = api.listDevices();
  if (devices.length === 0) {
    throw new AgentError('BACKEND_UNAVAILABLE', `no Edge TPU found (libedgetpu ${api.version} sees no USB or PCIe device)`, {
      fix: 'plug the Coral USB Accelerator in (a USB 3 port; check `lsusb` for 1a6e:089a or 18d1:9302) or install the PCIe driver (gasket-dkms) for M.2/mini-PCIe; or use a CPU variant',
    });
  }
  const ofType = sel.type ? devices.filter((d) => d.type === sel.type) : devices;
  const chosen = ofType[sel.index ?? 0];
  if (!chosen) {
    throw new AgentError('BACKEND_UNAVAILABLE', `Edge TPU "${device}" not found: present ${devices.map((d) => `${d.type} ${d.path}`).join(', ')}`, {
      fix: `use one of: ${devices.map((d, i) => `${d.type}:${devices.filter((x, j) => x.type === d.type && j < i).length}`).join(', ')}`,
    });
  }
  const type = chosen.type === 'usb' ? EDGETPU_APEX_USB : EDGETPU_APEX_PCI;
  const delegate = api.createDelegate(type, chosen.path);
  if (!delegate) {
    throw new AgentError('BACKEND_UNAVAILABLE', `Edge TPU ${chosen.type} ${chosen.path} could not be opened (busy, or no permission)`, {
      fix: 'stop other programs using the Coral, and make sure the service user is in the plugdev group (udev rule from libedgetpu1-std) for USB or apex for PCIe',
    });
  }
  return { delegate, device: `${chosen.type}:${ofType.indexOf(chosen)}` };
}
