import type { Geometry, PixelFormat } from '../../../agent/types.js';
import type { ManifestInput } from '../../../agent/model/manifest-schema.js';
import { ffmpegFilter } from '../../../agent/core/geometry.js';
import { packedLayout, type FrameLayout } from '../raw-reader.js';
import type { PlanOptions } from '../process-source.js';

/**
 * ffmpeg output options shared by every ffmpeg-based source: scale, letterbox, pixel format, raw frames on stdout.
 * With `planar` (the model takes NCHW), frames come as gbrp planes: from YUV, swscale writes them with full chroma
 * interpolation and accurate rounding (the same pixels as rgb24 with `accurate_rnd+full_chroma_int`, which plain rgb24
 * is not: up to 21 levels off at colour edges on the demo clip) and for less CPU (demo clip, 640x480 H.264 to
 * 320x240, one thread: 3.25 against 3.98 ms per frame).
 */
export function ffmpegOutputArgs(g: Geometry, input: ManifestInput, opts: { inColorMatrix?: 'bt601' | 'bt709'; planar?: boolean } = {}): string[] {
  const fmt = ffmpegPixelFormat(input, opts.planar);
  const vf = opts.inColorMatrix ? yuvFilter(g, input, opts.inColorMatrix, fmt) : ffmpegFilter(g, input.color, input.padValue, fmt, input.resizeFilter ?? 'area');
  return ['-an', '-sn', '-dn', '-vf', vf, '-fps_mode', 'passthrough', '-f', 'rawvideo', 'pipe:1'];
}

/** The pixel format an ffmpeg-based source delivers. */
export function ffmpegPixelFormat(input: Pick<ManifestInput, 'color'>, planar = false): PixelFormat {
  return planar ? 'gbrp' : input.color === 'BGR' ? 'bgr24' : 'rgb24';
}

/**
 * The same geometry as ffmpegFilter, for raw YUV input whose colour matrix is known: the one scale filter both
 * resizes and converts to RGB with that matrix (format= right after it makes the conversion happen there, not in
 * an automatically inserted scaler with the default matrix), then the letterbox is padded in RGB.
 */
export function yuvFilter(g: Geometry, input: ManifestInput, matrix: 'bt601' | 'bt709', pixFmt: PixelFormat = ffmpegPixelFormat(input)): string {
  const parts = [`scale=${g.contentWidth}:${g.contentHeight}:flags=${input.resizeFilter ?? 'area'}:in_color_matrix=${matrix}:in_range=tv`, `format=${pixFmt}`];
  if (g.contentWidth !== g.width || g.contentHeight !== g.height) {
    const hex = (input.padValue ?? 0).toString(16).padStart(2, '0');
    parts.push(`pad=${g.width}:${g.height}:${g.padX}:${g.padY}:color=0x${hex}${hex}${hex}`);
  }
  return parts.join(',');
}

export const ffmpegGlobalArgs = ['-hide_banner', '-nostdin', '-loglevel', 'error'];

/**
 * The agent's thread budget for ffmpeg (agent/model/inference-thread.ts): `-threads N` before `-i` for the decoder,
 * `-filter_threads N` for the scale/format filter graph.
 */
export function threadArgs(opts: PlanOptions): string[] {
  return opts.decoderThreads ? ['-filter_threads', String(opts.decoderThreads), '-threads', String(opts.decoderThreads)] : [];
}

/**
 * Decoder options for an MJPEG input (what most USB cameras send): ffmpeg's MJPEG decoder can decode straight to
 * 1/2, 1/4 or 1/8 of the picture size (`-lowres N`, it inverse-transforms each 8x8 DCT block at 4x4, 2x2 or 1x1;
 * libavcodec's lowres option, supported by mjpeg). When the model needs much less than the camera sends, that skips
 * most of the decode and the downscale: the largest N whose picture is still at least the model's content size (so
 * the scale filter never enlarges). Measured on the demo clip as 640x480 MJPEG (quality 3) for the 320x240 demo
 * model: ffmpeg's decode + scale + RGB conversion 2.0 -> 1.4 ms CPU per frame (one thread, 354 frames).
 */
export function mjpegLowresArgs(g: Geometry): string[] {
  // libavcodec rounds the reduced size up: AV_CEIL_RSHIFT(width, lowres) in ff_set_dimensions (libavcodec/utils.c).
  const shrink = (v: number, n: number): number => -(-v >> n);
  let n = 0;
  while (n < 3 && shrink(g.srcWidth, n + 1) >= g.contentWidth && shrink(g.srcHeight, n + 1) >= g.contentHeight) n++;
  return n ? ['-lowres', String(n)] : [];
}

/** ffmpeg writes the finished frame. */
export function ffmpegLayout(g: Geometry): FrameLayout {
  return packedLayout(g.width, g.height, 3);
}

/**
 * GStreamer writes only the scaled content (videoscale/nvvidconv), the letterbox border is added by the reader.
 * Packed 24-bit RGB rows are padded to a multiple of 4 bytes in GStreamer's default video layout
 * (gst-plugins-base gst-libs/gst/video/video-info.c, fill_planes: stride = GST_ROUND_UP_4 (width * 3)).
 */
export function gstreamerLayout(g: Geometry, padValue = 0): FrameLayout {
  return {
    width: g.width,
    height: g.height,
    channels: 3,
    contentWidth: g.contentWidth,
    contentHeight: g.contentHeight,
    padX: g.padX,
    padY: g.padY,
    srcStride: Math.ceil((g.contentWidth * 3) / 4) * 4,
    padValue,
  };
}

/** A frame rate as a GStreamer fraction ("30/1", "30000/1001"-style for non-integers). */
export function gstFraction(fps: number): string {
  if (Number.isInteger(fps)) return `${fps}/1`;
  return `${Math.round(fps * 1000)}/1000`;
}
