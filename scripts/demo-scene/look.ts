/**
 * The static look of a scene: the machine frame around the belt, the belt's rubber texture (scrolled each
 * frame), and the lighting field (gradient, vignette, hot spot, white balance) that multiplies every frame.
 * All drawn per seed so that no two scenes are lit the same way.
 */
import { type Rng, intBetween, uniform } from './prng.js';

export interface SceneLook {
  width: number;
  height: number;
  beltTop: number;
  beltBottom: number;
  /** Belt texture, grey levels, texWidth x (beltBottom - beltTop), tiles horizontally. */
  belt: Float32Array;
  texWidth: number;
  beltTint: [number, number, number];
  /** Static RGB background (machine frame); belt rows are overwritten every frame. */
  background: Float32Array;
  /** Multiplicative light per pixel. */
  light: Float32Array;
  /** White balance per channel. */
  tint: [number, number, number];
  /** Unit vector towards the brighter side (used to shade parts consistently). */
  lightDir: [number, number];
  /** Sensor noise, standard deviation in grey levels. */
  noiseSigma: number;
}

const TEX_WIDTH = 1024;
const SEAM_PITCH = 256;

export function makeLook(width: number, height: number, rng: Rng): SceneLook {
  const beltTop = 64;
  const beltBottom = height - 64;
  const bh = beltBottom - beltTop;
  const belt = beltTexture(bh, rng);
  const grey = uniform(rng, 48, 72);
  const hue = rng();
  const beltTint: [number, number, number] =
    hue < 0.5 ? [grey, grey, grey * 1.04] : hue < 0.8 ? [grey * 0.95, grey * 1.03, grey * 0.97] : [grey * 1.03, grey, grey * 0.95];
  const background = frameBackground(width, height, beltTop, beltBottom, rng);
  const theta = uniform(rng, 0, Math.PI * 2);
  const lightDir: [number, number] = [Math.cos(theta), Math.sin(theta)];
  const light = lightField(width, height, lightDir, rng);
  const wb = () => uniform(rng, 0.94, 1.06);
  return {
    width,
    height,
    beltTop,
    beltBottom,
    belt,
    texWidth: TEX_WIDTH,
    beltTint,
    background,
    light,
    tint: [wb(), wb(), wb()],
    lightDir,
    noiseSigma: uniform(rng, 2.5, 6),
  };
}

/** Rubber belt: unit-mean grey texture with coarse blotches, fine grain and a seam every SEAM_PITCH px. */
function beltTexture(bh: number, rng: Rng): Float32Array {
  const cell = 32;
  const gw = TEX_WIDTH / cell;
  const gh = Math.ceil(bh / cell) + 1;
  const coarse = new Float32Array(gw * gh).map(() => uniform(rng, -0.12, 0.12));
  const tex = new Float32Array(TEX_WIDTH * bh);
  const seamShift = intBetween(rng, 0, SEAM_PITCH - 1);
  for (let y = 0; y < bh; y++) {
    const gy = y / cell;
    const y0 = Math.floor(gy);
    const fy = gy - y0;
    for (let x = 0; x < TEX_WIDTH; x++) {
      const gx = x / cell;
      const x0 = Math.floor(gx);
      const fx = gx - x0;
      const x1 = (x0 + 1) % gw;
      const c00 = coarse[y0 * gw + x0]!;
      const c10 = coarse[y0 * gw + x1]!;
      const c01 = coarse[(y0 + 1) * gw + x0]!;
      const c11 = coarse[(y0 + 1) * gw + x1]!;
      const low = (c00 * (1 - fx) + c10 * fx) * (1 - fy) + (c01 * (1 - fx) + c11 * fx) * fy;
      let v = 1 + low + uniform(rng, -0.1, 0.1);
      // Fabric ribs across the belt and a seam: both move with the belt, so the model sees real motion.
      v *= 1 + 0.04 * Math.sin((x * Math.PI * 2) / 6);
      if ((x + seamShift) % SEAM_PITCH < 3) v *= 0.7;
      tex[y * TEX_WIDTH + x] = v;
    }
  }
  return tex;
}

/** Machine frame above and below the belt: brushed metal rails with bolt heads and a dark belt edge. */
function frameBackground(width: number, height: number, top: number, bottom: number, rng: Rng): Float32Array {
  const bg = new Float32Array(width * height * 3);
  const base = uniform(rng, 95, 150);
  const boltPitch = intBetween(rng, 96, 160);
  const boltShift = intBetween(rng, 0, boltPitch - 1);
  for (let y = 0; y < height; y++) {
    const inTop = y < top;
    if (!inTop && y < bottom) continue;
    const railY = inTop ? y : y - bottom;
    const railH = inTop ? top : height - bottom;
    const edge = inTop ? top - y : y - bottom + 1; // distance to the belt
    for (let x = 0; x < width; x++) {
      let v = base * (0.9 + 0.2 * (railY / railH)) * (1 + uniform(rng, -0.04, 0.04));
      if (edge <= 4) v *= 0.35;
      const bx = ((x + boltShift) % boltPitch) - boltPitch / 2;
      const by = railY - railH / 2;
      const r = Math.hypot(bx, by);
      if (r < 7) v *= 1.25 - r / 30;
      else if (r < 9) v *= 0.6;
      const i = (y * width + x) * 3;
      bg[i] = v;
      bg[i + 1] = v;
      bg[i + 2] = v * 1.02;
    }
  }
  return bg;
}

function lightField(width: number, height: number, dir: [number, number], rng: Rng): Float32Array {
  const grad = uniform(rng, 0.1, 0.4);
  const vig = uniform(rng, 0.1, 0.35);
  const hotAmp = uniform(rng, 0, 0.35);
  const hotX = uniform(rng, 0, width);
  const hotY = uniform(rng, 0, height);
  const hotS = uniform(rng, 100, 220);
  const exposure = uniform(rng, 0.85, 1.15);
  const rmax2 = (width / 2) ** 2 + (height / 2) ** 2;
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const dx = x - width / 2;
      const dy = y - height / 2;
      const g = 1 + (grad * (dx * dir[0] + dy * dir[1])) / (width / 2);
      const v = 1 - (vig * (dx * dx + dy * dy)) / rmax2;
      const h = 1 + hotAmp * Math.exp(-((x - hotX) ** 2 + (y - hotY) ** 2) / (2 * hotS * hotS));
      out[y * width + x] = Math.max(0.3, exposure * g * v * h);
    }
  }
  return out;
}
