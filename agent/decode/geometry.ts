import type { Geometry } from '../types.js';

/** Affine map from model-input pixels to coordinates normalised 0..1 to the source picture: v = p * scale + offset. */
export interface SourceMap {
  sx: number;
  ox: number;
  sy: number;
  oy: number;
}

/**
 * Undoes the letterbox. The frame fed to the model is `geometry.width x geometry.height` (normally the input
 * size) and the picture occupies [padX, padX + contentWidth) x [padY, padY + contentHeight) of it, so
 * x_src = (x_frame - padX) / contentWidth with x_frame = x_in * geometry.width / inputWidth.
 */
export function sourceMap(g: Geometry, inputWidth: number, inputHeight: number): SourceMap {
  const fx = g.width / inputWidth;
  const fy = g.height / inputHeight;
  return { sx: fx / g.contentWidth, ox: -g.padX / g.contentWidth, sy: fy / g.contentHeight, oy: -g.padY / g.contentHeight };
}

export function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

/** Geometry of a frame that fills the whole input (plain resize, no letterbox). */
export function stretchGeometry(srcWidth: number, srcHeight: number, width: number, height: number): Geometry {
  return { srcWidth, srcHeight, width, height, padX: 0, padY: 0, contentWidth: width, contentHeight: height };
}
