import { AgentError } from '../../agent/errors.js';
import type { SourceConfig } from '../../agent/config/sections/source.js';
import type { FrameSource } from '../../agent/types.js';
import { FfmpegSource, type SourceOptions } from './ffmpeg-source.js';

export type { SourceOptions } from './ffmpeg-source.js';

/** Frame sources by `source.type`. */
export function createSource(cfg: SourceConfig, opts: SourceOptions): FrameSource {
  switch (cfg.type) {
    case 'file':
    case 'rtsp':
    case 'v4l2':
      return new FfmpegSource(cfg, opts);
    case 'pipeline':
      if (cfg.tool === 'ffmpeg') return new FfmpegSource(cfg, opts);
      break;
  }
  throw new AgentError('CONFIG_INVALID', `source type "${cfg.type}"${cfg.type === 'pipeline' ? ` with tool ${cfg.tool}` : ''} is not available in this build`, {
    fix: 'use a file, rtsp, v4l2 or ffmpeg pipeline source',
  });
}
