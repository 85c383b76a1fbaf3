/**
 * Rasterises one part (rotated, shaded, with its defect marks and a soft drop shadow) once into a sprite.
 * Parts do not rotate on the belt and move by whole pixels per frame, so the sprite is composited as is.
 */
import { type PartGeometry, partSdf, polylineDistance } from './shapes.js';
import { type Rng, uniform } from './prng.js';

export interface Sprite {
  width: number;
  height: number;
  /** Colour premultiplied by alpha, RGB interleaved, 0..255 scale. */
  rgb: Float32Array;
  alpha: Float32Array;
  /** Shadow opacity cast on the belt (applied under the part). */
  shadow: Float32Array;
  /** Tight box of pixels with alpha >= 0.5, sprite coordinates, x2/y2 exclusive. */
  box: { x1: number; y1: number; x2: number; y2: number };
}

export interface SpriteStyle {
  angle: number;
  color: [number, number, number];
  /** Unit vector towards the light (image coordinates): that side of the part is brighter. */
  light: [number, number];
}

const SHADOW_OFFSET: [number, number] = [5, 6];
const SHADOW_SOFTNESS = 5;
const SHADOW_STRENGTH = 0.45;

const clamp01 = (x: number) => (x < 0 ? 0 : x > 1 ? 1 : x);

export function rasterisePart(g: PartGeometry, size: number, style: SpriteStyle, rng: Rng): Sprite {
  const half = Math.ceil(size * 0.62) + 12;
  const w = half * 2;
  const h = half * 2;
  const rgb = new Float32Array(w * h * 3);
  const alpha = new Float32Array(w * h);
  const shadow = new Float32Array(w * h);
  const cos = Math.cos(style.angle);
  const sin = Math.sin(style.angle);
  const [lx, ly] = style.light;
  const [cr, cg, cb] = style.color;
  const grain = uniform(rng, 0.02, 0.05);
  let bx1 = w;
  let by1 = h;
  let bx2 = 0;
  let by2 = 0;
  for (let py = 0; py < h; py++) {
    for (let px = 0; px < w; px++) {
      const dx = px + 0.5 - half;
      const dy = py + 0.5 - half;
      // World offset -> part coordinates (inverse rotation).
      const u = cos * dx + sin * dy;
      const v = -sin * dx + cos * dy;
      const i = py * w + px;
      const su = cos * (dx - SHADOW_OFFSET[0]) + sin * (dy - SHADOW_OFFSET[1]);
      const sv = -sin * (dx - SHADOW_OFFSET[0]) + cos * (dy - SHADOW_OFFSET[1]);
      shadow[i] = SHADOW_STRENGTH * clamp01(0.5 - partSdf(g, su, sv) / SHADOW_SOFTNESS);
      const d = partSdf(g, u, v);
      const a = clamp01(0.5 - d);
      if (a <= 0) continue;
      // Shading: a gentle gradient towards the light, a darker rim (bevel), and a fine static grain.
      let f = 1 + (0.22 * (dx * lx + dy * ly)) / size;
      f *= 0.8 + 0.2 * clamp01(-d / 4);
      f *= 1 + grain * (rng() * 2 - 1);
      let r = cr * f;
      let gg = cg * f;
      let b = cb * f;
      if (g.stain && g.stainColor) {
        let sd = Infinity;
        for (const c of g.stain) sd = Math.min(sd, Math.hypot(u - c.x, v - c.y) - c.r);
        const sa = 0.85 * clamp01(0.5 - sd / 2);
        if (sa > 0) {
          const [sr, sg, sb] = g.stainColor;
          r += (sr - r) * sa;
          gg += (sg - gg) * sa;
          b += (sb - b) * sa;
        }
      }
      if (g.crack && g.crackWidth) {
        const cd = polylineDistance(g.crack, u, v);
        const ca = clamp01(g.crackWidth / 2 + 0.5 - cd);
        if (ca > 0) {
          const k = 1 - 0.85 * ca;
          r *= k;
          gg *= k;
          b *= k;
        }
      }
      alpha[i] = a;
      rgb[i * 3] = r * a;
      rgb[i * 3 + 1] = gg * a;
      rgb[i * 3 + 2] = b * a;
      if (a >= 0.5) {
        if (px < bx1) bx1 = px;
        if (py < by1) by1 = py;
        if (px + 1 > bx2) bx2 = px + 1;
        if (py + 1 > by2) by2 = py + 1;
      }
    }
  }
  return { width: w, height: h, rgb, alpha, shadow, box: { x1: bx1, y1: by1, x2: bx2, y2: by2 } };
}
