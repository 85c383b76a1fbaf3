/**
 * The arm64 package on its own CPU architecture, under qemu user-mode emulation: installed from the .deb into a staging
 * root, doctor runs, the demo model and a third-party model (../shared) give the same detections as on x86_64, and the
 * demo clip (its first 10 frames) yields the same events. ONNX models run on native onnxruntime-node (linux/arm64).
 */
import { describeLane } from './qemu-lane.js';

describeLane('arm64', 'onnxruntime   yes (onnxruntime-node 1.30.0)');
