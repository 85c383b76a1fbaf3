import type { Geometry, PixelFormat } from '../types.js';
import type { ManifestInput } from '../model/manifest-schema.js';

/** Width and height of a model input from its shape and layout. */
export function inputSize(input: Pick<ManifestInput, 'shape' | 'layout'>): { width: number; height: number; channels: number } {
  const [, a, b, c] = input.shape as [number, number, number, number];
  return input.layout === 'NCHW' ? { channels: a, height: b, width: c } : { height: a, width: b, channels: c };
}

/**
 * Where a srcWidth x srcHeight picture lands inside a width x height model input.
 * stretch: fills the input; letterbox: keeps the aspect ratio, centred or at the top-left, the rest padded.
 * Sizes are rounded to whole pixels here, and the same numbers go into the ffmpeg filter, so that boxes
 * map back exactly.
 */
export function computeGeometry(
  srcWidth: number,
  srcHeight: number,
  width: number,
  height: number,
  resize: 'stretch' | 'letterbox',
  align: 'center' | 'topleft' = 'center',
): Geometry {
  if (resize === 'stretch') {
    return { srcWidth, srcHeight, width, height, padX: 0, padY: 0, contentWidth: width, contentHeight: height };
  }
  const s = Math.min(width / srcWidth, height / srcHeight);
  const contentWidth = Math.min(width, Math.max(1, Math.round(srcWidth * s)));
  const contentHeight = Math.min(height, Math.max(1, Math.round(srcHeight * s)));
  const padX = align === 'center' ? Math.floor((width - contentWidth) / 2) : 0;
  const padY = align === 'center' ? Math.floor((height - contentHeight) / 2) : 0;
  return { srcWidth, srcHeight, width, height, padX, padY, contentWidth, contentHeight };
}

/**
 * The ffmpeg video filter that turns any source picture into the model's input frame: scaled with the
 * manifest's resize filter (swscale's `area` by default, good for downscaling, or `bilinear`), padded for a letterbox, and converted to `pixFmt` (packed RGB or BGR in the
 * model's colour order by default, or gbrp planes). Resizing here, in the decoder process, is what keeps the
 * JavaScript side cheap on a Pi.
 */
export function ffmpegFilter(
  g: Geometry,
  color: 'RGB' | 'BGR',
  padValue = 0,
  pixFmt: PixelFormat = color === 'BGR' ? 'bgr24' : 'rgb24',
  resizeFilter: ResizeFilter = 'area',
): string {
  const parts = [`scale=${g.contentWidth}:${g.contentHeight}:flags=${resizeFilter}`];
  if (g.contentWidth !== g.width || g.contentHeight !== g.height) {
    const hex = padValue.toString(16).padStart(2, '0');
    parts.push(`pad=${g.width}:${g.height}:${g.padX}:${g.padY}:color=0x${hex}${hex}${hex}`);
  }
  parts.push(`format=${pixFmt}`);
  return parts.join(',');
}

/** The manifest's `input.resizeFilter`: the swscale flag the scale filter uses. */
export type ResizeFilter = 'area' | 'bilinear';

/** Maps a box in model-input pixels back to the source picture, normalised 0..1 and clamped. */
export function inputBoxToSource(g: Geometry, x1: number, y1: number, x2: number, y2: number): [number, number, number, number] {
  const nx = (x: number): number => clamp01((x - g.padX) / g.contentWidth);
  const ny = (y: number): number => clamp01((y - g.padY) / g.contentHeight);
  return [nx(x1), ny(y1), nx(x2), ny(y2)];
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}
