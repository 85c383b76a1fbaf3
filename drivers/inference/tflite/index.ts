export { TfliteBackend, type TfliteBackendDeps } from './backend.js';
export { loadTfliteApi, tfliteLibraryCandidates, type TfliteApi } from './capi.js';
export { loadEdgeTpuApi, createEdgeTpuDelegate, parseDeviceString, EDGETPU_INSTALL_FIX, type EdgeTpuApi, type EdgeTpuDevice } from './edgetpu.js';
export { quantise, dequantise } from './quant.js';
export { StatefulBackend, type FeedbackPair } from './stateful.js';
