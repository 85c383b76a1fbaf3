/**
 * The armhf package on its own CPU architecture, under qemu user-mode emulation: installed from the .deb into a staging
 * root, doctor runs, the demo model and a third-party model (../shared) give the same detections as on x86_64, and the
 * demo clip (its first 10 frames) yields the same events. ONNX models run on the WebAssembly backend (no onnxruntime-node build for linux/arm).
 */
import { describeLane } from './qemu-lane.js';

describeLane('armhf', 'onnxruntime   yes (onnxruntime-web 1.30.0, WebAssembly SIMD, 1 thread)');
