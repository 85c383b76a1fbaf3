/**
 * The Edge TPU path, printed, not run. The Edge TPU compiler (edgetpu_compiler, from Google's Coral apt repository,
 * https://coral.ai/docs/edgetpu/compiler/) takes a fully integer-quantised TensorFlow Lite model (int8/uint8 weights
 * AND activations, inputs and outputs quantised too) and writes NAME_edgetpu.tflite, mapping the supported ops onto the
 * TPU and leaving the rest to the CPU. It is a Debian x86-64 binary only: there is none for ARM64 boards, and it is not
 * installed on this machine. optimize also does not convert ONNX to TFLite: a full-integer TFLite model has to come
 * from the training framework (TensorFlow's TFLiteConverter with a representative dataset, or onnx2tf then the
 * converter). The agent runs the *_edgetpu.tflite files users compile.
 */
export function edgeTpuAdvice(modelName: string): string {
  return [
    'Edge TPU: not done here (no ONNX -> TFLite conversion in optimize; edgetpu_compiler is an x86-64 Debian package, not installed on this machine).',
    `  1. export a full-integer TFLite model from your training framework, e.g. ${modelName}_int8.tflite (TFLiteConverter with`,
    '     optimizations=[DEFAULT], a representative_dataset of your own frames, inference_input_type/output_type=tf.uint8),',
    `  2. on an x86-64 Debian/Ubuntu machine: edgetpu_compiler -s -o OUTDIR ${modelName}_int8.tflite`,
    `     (writes OUTDIR/${modelName}_int8_edgetpu.tflite and a .log listing which ops run on the TPU),`,
    '  3. add it to the manifest as a variant with runtime "tflite", accelerator "edgetpu", precision "uint8".',
  ].join('\n');
}
