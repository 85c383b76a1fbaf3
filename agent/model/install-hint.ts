import type { Capabilities } from '../select/hardware.js';

/** The runtime + accelerator of a variant that cannot run here (a VariantVerdict or a manifest variant). */
interface Needs {
  runtime: string;
  accelerator: string;
}

/**
 * What to install (or plug in) so that one of these variants can run on this machine: one clause per missing
 * piece, deduplicated, for the one-line "no variant can run here" error of `doctor` and start-up (exit 69).
 *
 * The Edge TPU runtime comes as the Debian package libedgetpu1-std from Coral's apt repository
 * (`deb https://packages.cloud.google.com/apt coral-edgetpu-stable main`), per Coral's "Get started with the USB
 * Accelerator", section "Install the Edge TPU runtime": https://coral.ai/docs/accelerator/get-started/
 * and Coral's software page, "Debian packages": https://coral.ai/software/#debian-packages
 * The M.2/PCIe modules also need the gasket driver (gasket-dkms), https://coral.ai/docs/m2/get-started/
 */
export function installHint(variants: readonly Needs[], caps: Capabilities): string {
  const hints = new Set<string>();
  for (const v of variants) {
    if (v.runtime === 'onnxruntime' && !caps.onnxruntime.usable) {
      hints.add('reinstall the package so that onnxruntime-node (or its WebAssembly build) loads for this architecture');
      continue;
    }
    if (v.runtime === 'tflite' && !caps.tflite.usable) hints.add('install the TFLite C library (libtensorflowlite_c.so; or set EDGE_AGENT_TFLITE_LIB to its path)');
    if (v.accelerator === 'edgetpu') {
      if (!caps.edgetpuLibrary.usable) hints.add("install libedgetpu1-std from Coral's apt repository (https://coral.ai/software/#debian-packages)");
      if (!caps.accelerators.edgetpu.usable && /no Edge TPU found/.test(caps.accelerators.edgetpu.reason ?? '')) hints.add('plug in the Coral Edge TPU (USB Accelerator, or M.2/PCIe with gasket-dkms)');
      else if (!caps.accelerators.edgetpu.usable && caps.edgetpuLibrary.usable) hints.add(`fix the Edge TPU: ${caps.accelerators.edgetpu.reason ?? 'not usable'}`);
    } else if (v.accelerator === 'cuda' || v.accelerator === 'tensorrt') {
      if (!caps.accelerators[v.accelerator].usable) hints.add(`install JetPack's CUDA/TensorRT and an onnxruntime-node built with the ${v.accelerator} provider (docs/hardware.md)`);
    }
  }
  if (!variants.some((v) => v.accelerator === 'cpu')) hints.add('or add a cpu variant to the manifest');
  return hints.size ? [...hints].join('; ') : 'run `edge-agent doctor` to see why each variant was rejected';
}
