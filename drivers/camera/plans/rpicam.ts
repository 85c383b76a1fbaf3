import type { SourceConfig } from '../../../agent/config/sections/source.js';
import type { ManifestInput } from '../../../agent/model/manifest-schema.js';
import type { Geometry } from '../../../agent/types.js';
import type { PlanOptions, ProbedPicture, SourceDriver, SourcePlan } from '../process-source.js';
import { hasTool } from '../tools.js';
import { checkMode, parseRpicamCameras, runListCameras } from '../modes.js';
import { ffmpegGlobalArgs, ffmpegLayout, ffmpegOutputArgs, ffmpegPixelFormat, threadArgs } from './output.js';

type LibcameraCfg = Extract<SourceConfig, { type: 'libcamera' }>;

/**
 * The size asked of rpicam-vid. `--codec yuv420` hands over the camera's buffer as it is (rpicam-apps
 * encoder/null_encoder.cpp passes the whole mapped span of core/rpicam_encoder.hpp on), so rows carry the ISP's
 * stride padding when the width is not aligned; a width that is a multiple of 64 has none on both the VC4 ISP
 * (Pi 4 and earlier) and the PiSP (Pi 5). Height even for 4:2:0.
 */
export function rpicamSize(width: number, height: number): { width: number; height: number } {
  return { width: Math.max(64, Math.round(width / 64) * 64), height: Math.max(2, Math.round(height / 2) * 2) };
}

/** rpicam-vid arguments for raw YUV 4:2:0 on stdout, endless, no preview window. */
export function rpicamArgs(c: LibcameraCfg): string[] {
  const s = rpicamSize(c.width, c.height);
  return [
    '--nopreview', '--timeout', '0', '--codec', 'yuv420', '--camera', String(c.camera),
    '--width', String(s.width), '--height', String(s.height), '--framerate', String(c.fps),
    ...(c.hflip ? ['--hflip'] : []), ...(c.vflip ? ['--vflip'] : []),
    '--flush', '--output', '-',
  ];
}

/**
 * rpicam-vid configures Rec.709 for video of 1280x720 and up and SMPTE 170M (Rec.601) below
 * (rpicam-apps core/rpicam_app.cpp, ConfigureVideo); ffmpeg must convert with the same matrix.
 */
export function rpicamColorMatrix(width: number, height: number): 'bt709' | 'bt601' {
  return width >= 1280 || height >= 720 ? 'bt709' : 'bt601';
}

/** Raspberry Pi CSI camera: `rpicam-vid` (or `libcamera-vid` before Bookworm) piped into ffmpeg. */
export class RpicamDriver implements SourceDriver {
  readonly type = 'libcamera';
  readonly live = true;
  readonly loop = false;
  private readonly tool: string;
  private readonly listCameras: () => string | undefined;
  constructor(
    private readonly cfg: LibcameraCfg,
    has: (t: string) => boolean = hasTool,
    listCameras?: () => string | undefined,
  ) {
    this.tool = has('rpicam-vid') || !has('libcamera-vid') ? 'rpicam-vid' : 'libcamera-vid';
    const hello = this.tool === 'rpicam-vid' ? 'rpicam-hello' : 'libcamera-hello';
    this.listCameras = listCameras ?? (() => (has(hello) ? runListCameras(hello) : undefined));
  }
  preflight(): string[] {
    const text = this.listCameras();
    if (text === undefined) return [];
    return libcameraWarnings(text, this.cfg);
  }
  tools(): string[] {
    return [this.tool, 'ffmpeg'];
  }
  what(): string {
    return `${this.tool} camera ${this.cfg.camera}`;
  }
  async probe(): Promise<ProbedPicture> {
    const s = rpicamSize(this.cfg.width, this.cfg.height);
    return { width: s.width, height: s.height, fps: this.cfg.fps };
  }
  plan(g: Geometry, input: ManifestInput, opts: PlanOptions = {}): SourcePlan {
    const s = rpicamSize(this.cfg.width, this.cfg.height);
    const m = rpicamColorMatrix(s.width, s.height);
    const ff = [
      ...ffmpegGlobalArgs,
      ...threadArgs(opts),
      '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-video_size', `${s.width}x${s.height}`, '-framerate', String(this.cfg.fps), '-i', 'pipe:0',
      ...ffmpegOutputArgs(g, input, { inColorMatrix: m, planar: opts.planar }),
    ];
    return { stages: [{ cmd: this.tool, args: rpicamArgs(this.cfg) }, { cmd: 'ffmpeg', args: ff }], layout: ffmpegLayout(g), format: ffmpegPixelFormat(input, opts.planar) };
  }
}

/** Checks the configured camera index and mode against `rpicam-hello --list-cameras` output. */
export function libcameraWarnings(listCamerasOutput: string, c: LibcameraCfg): string[] {
  const cams = parseRpicamCameras(listCamerasOutput);
  const cam = cams.find((x) => x.index === c.camera);
  if (!cam) return [`libcamera has no camera ${c.camera} (found ${cams.length ? cams.map((x) => `${x.index}: ${x.sensor}`).join(', ') : 'none'}): check the ribbon cable or source.camera`];
  const w = checkMode(cam.modes, { width: c.width, height: c.height, fps: c.fps }, { exactSize: false, what: `camera ${c.camera} (${cam.sensor})` });
  return w ? [`${w}: lower source.width/height/fps`] : [];
}
