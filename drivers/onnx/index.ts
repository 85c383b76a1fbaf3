/** ONNX model files: protobuf read/write, initializer data, graph editing, shape inference, FLOPs. */
export * from './proto.js';
export * from './tensor.js';
export * from './graph.js';
export * from './shapes.js';
export * from './flops.js';
export * from './opset.js';
export * from './session.js';
export * from './profile.js';
