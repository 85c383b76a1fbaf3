import { AgentError } from '../../agent/errors.js';
import type { SourceConfig } from '../../agent/config/sections/source.js';
import type { FrameSource } from '../../agent/types.js';
import { ImagesSource } from './images-source.js';
import { planCapture, ProcessSource, type SourceDriver, type SourceOptions } from './process-source.js';
import { FfmpegPipelineDriver, FileDriver, StreamDriver, V4l2Driver } from './plans/ffmpeg.js';
import { GstPipelineDriver, JetsonCsiDriver, LibcamerasrcDriver } from './plans/gstreamer.js';
import { RpicamDriver } from './plans/rpicam.js';

export type { SourceOptions, SourceStatus } from './process-source.js';
export { ProcessSource } from './process-source.js';
export { ImagesSource } from './images-source.js';
export { listVideoDevices, parseListFormatsExt } from './v4l2-devices.js';

/** The driver (commands, tools, probing) for a process-backed source type. */
export function driverFor(cfg: Exclude<SourceConfig, { type: 'images' }>): SourceDriver {
  switch (cfg.type) {
    case 'file':
      return new FileDriver(cfg);
    case 'rtsp':
      return new StreamDriver(cfg);
    case 'v4l2':
      return new V4l2Driver(cfg);
    case 'libcamera':
      return cfg.backend === 'gstreamer' ? new LibcamerasrcDriver(cfg) : new RpicamDriver(cfg);
    case 'jetson-csi':
      return new JetsonCsiDriver(cfg);
    case 'pipeline':
      return cfg.tool === 'gstreamer' ? new GstPipelineDriver(cfg) : new FfmpegPipelineDriver(cfg);
  }
  throw new AgentError('CONFIG_INVALID', `source type "${(cfg as { type: string }).type}" is not known`, { fix: 'use file, rtsp, v4l2, libcamera, jetson-csi, images or pipeline' });
}

/** Frame sources by `source.type`. */
export function createSource(cfg: SourceConfig, opts: SourceOptions): FrameSource {
  if (cfg.type === 'images') return new ImagesSource(cfg, opts);
  return new ProcessSource(driverFor(cfg), cfg.restart, opts);
}

/**
 * The commands a process-backed source would run for these options (probed, not started): the agent's own decoder
 * arguments, for benchmarks that time the decoder alone or beside the model.
 */
export function captureCommands(cfg: Exclude<SourceConfig, { type: 'images' }>, opts: Parameters<typeof planCapture>[1]): ReturnType<typeof planCapture> {
  return planCapture(driverFor(cfg), opts);
}
