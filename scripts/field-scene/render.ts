/**
 * Renders frame t of a field scene to rgb24: grass, soil beds whose colour follows their moisture (dark when wet,
 * pale when dry), plants whose leaves yellow, shrink and droop as they wilt and sway in the wind, visitors, and the
 * light of the hour: warm dawn and dusk, noon glare with a hot spot, moving cloud shadows, rain specks, and grey
 * infrared frames at night (vegetation is bright in near-infrared, less so when stressed; wet soil is dark).
 * Each frame depends only on (scene, t).
 */
import { type FieldScene, MINUTES_PER_FRAME, clamp01, sunAt, visitorAt } from './scene.js';
import { mixSeed, mulberry32 } from '../demo-scene/prng.js';

const GREEN: [number, number, number] = [58, 150, 52];
const WILTED: [number, number, number] = [150, 118, 36];
const DRY: [number, number, number] = [182, 150, 108];
const WET: [number, number, number] = [74, 56, 40];

export function renderField(scene: FieldScene, t: number, out?: Uint8Array): Uint8Array {
  const { width: W, height: H } = scene;
  const dst = out ?? new Uint8Array(W * H * 3);
  const rgb = Float32Array.from(scene.background);
  const ir = new Float32Array(W * H);
  for (let i = 0; i < W * H; i++) ir[i] = 150 * (scene.background[i * 3 + 1]! / 96);
  const st = scene.states[t]!;
  const minute = (t * MINUTES_PER_FRAME) % 1440;
  const rng = mulberry32(mixSeed(scene.seed, 500, t));

  for (const z of scene.zones) {
    const [x1, y1, x2, y2] = z.box;
    const wet = clamp01((st.moisture[z.id]! - 10) / 50);
    const bw = x2 - x1;
    for (let y = y1; y < y2; y++) {
      for (let x = x1; x < x2; x++) {
        const tex = z.texture[(y - y1) * bw + (x - x1)]!;
        const i = y * W + x;
        for (let c = 0; c < 3; c++) rgb[i * 3 + c] = (DRY[c]! + (WET[c]! - DRY[c]!) * wet) * tex;
        ir[i] = (125 - 60 * wet) * tex;
      }
    }
  }

  // Wind: a gust that varies over the day; every plant sways with its own phase.
  const wind = 0.5 + 0.5 * Math.sin(t * 0.37 + scene.seed);
  for (const z of scene.zones) {
    const w = st.wilt[z.id]!;
    const col = GREEN.map((g, c) => g + (WILTED[c]! - g) * w);
    for (const p of z.plants) {
      const sway = Math.sin(t * 1.3 + p.phase) * 0.22 * wind;
      const px = p.x + Math.sin(t * 1.3 + p.phase) * 1.2 * wind;
      const py = p.y + 2.2 * w;
      for (const leaf of p.leaves) {
        const len = leaf.length * (1 - 0.45 * w);
        const half = (leaf.width * (1 - 0.35 * w)) / 2;
        const a = leaf.angle + sway;
        const dx = Math.cos(a);
        // Drooping leaves fall toward the bottom of the picture (the camera looks down at a slant).
        const dy = Math.sin(a) * (1 - 0.3 * w) + 0.5 * w;
        const cx = px + (dx * len) / 2;
        const cy = py + (dy * len) / 2;
        const r = len / 2 + 1;
        for (let y = Math.max(0, Math.floor(cy - r)); y <= Math.min(H - 1, Math.ceil(cy + r)); y++) {
          for (let x = Math.max(0, Math.floor(cx - r)); x <= Math.min(W - 1, Math.ceil(cx + r)); x++) {
            const ox = x - cx;
            const oy = y - cy;
            const n = Math.hypot(dx, dy) || 1;
            const u = (ox * dx + oy * dy) / n;
            const v = (-ox * dy + oy * dx) / n;
            if ((u * u) / ((len / 2) * (len / 2)) + (v * v) / (half * half) > 1) continue;
            const shade = 0.85 + 0.3 * ((u / len) + 0.5);
            const i = y * W + x;
            rgb[i * 3] = col[0]! * shade;
            rgb[i * 3 + 1] = col[1]! * shade;
            rgb[i * 3 + 2] = col[2]! * shade;
            ir[i] = (210 - 80 * w) * shade;
          }
        }
      }
    }
  }

  for (const v of scene.visitors) {
    const at = visitorAt(v, t);
    if (!at) continue;
    const [vx, vy] = at;
    const s = v.size;
    for (let y = Math.max(0, Math.floor(vy - s)); y <= Math.min(H - 1, Math.ceil(vy + s)); y++) {
      for (let x = Math.max(0, Math.floor(vx - s)); x <= Math.min(W - 1, Math.ceil(vx + s)); x++) {
        const ox = (x - vx) / s;
        const oy = (y - vy) / s;
        const i = y * W + x;
        if (v.kind === 'tractor-shadow') {
          if (Math.abs(ox) > 1 || Math.abs(oy) > 0.7) continue;
          const edge = clamp01((1 - Math.max(Math.abs(ox), Math.abs(oy) / 0.7)) * 6);
          const f = 1 - 0.55 * edge;
          for (let c = 0; c < 3; c++) rgb[i * 3 + c]! *= f;
          ir[i]! *= 1 - 0.3 * edge;
        } else if (v.kind === 'person') {
          const body = (ox * ox) / 0.25 + (oy * oy) / 0.8 <= 1;
          const head = ox * ox + (oy + 0.2) * (oy + 0.2) <= 0.08;
          if (head) setPx(rgb, ir, i, [205, 160, 130], 170);
          else if (body) setPx(rgb, ir, i, [60, 72, 130], 90);
        } else {
          const body = ox * ox + oy * oy * 4 <= 0.35;
          const wing = Math.abs(oy) < 0.18 && Math.abs(ox) < 1 && Math.abs(ox) > 0.2 && (t % 2 === 0 ? oy <= 0 : oy >= 0);
          if (body || wing) setPx(rgb, ir, i, [42, 36, 32], 60);
        }
      }
    }
  }

  const sun = sunAt(minute);
  const cloud = scene.clouds[t]!;
  if (sun <= 0.02) {
    // Night: the camera's IR-cut filter is out and an 850 nm illuminator lights the middle of the picture.
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const i = y * W + x;
        const r2 = ((x - W / 2) / W) ** 2 + ((y - H / 2) / H) ** 2;
        const g = ir[i]! * (0.85 - 0.9 * r2) + (rng() + rng() + rng() - 1.5) * 14;
        rgb[i * 3] = g;
        rgb[i * 3 + 1] = g;
        rgb[i * 3 + 2] = g;
      }
    }
  } else {
    const level = (0.3 + 0.85 * Math.pow(sun, 0.7)) * (1 - 0.35 * cloud.cover);
    const warm = clamp01((0.4 - sun) / 0.4);
    const gain = [level * (1 + 0.2 * warm), level, level * (1 - 0.3 * warm)];
    const glare = clamp01((sun - 0.9) * 10);
    const hx = W * 0.72;
    const hy = H * 0.3;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const i = y * W + x;
        const cd = ((x - cloud.x) / 45) ** 2 + ((y - H / 2) / 70) ** 2;
        const shadow = cd < 1 ? 1 - 0.4 * cloud.cover * (1 - cd) : 1;
        const hot = glare * 150 * Math.max(0, 1 - Math.hypot(x - hx, y - hy) / 38);
        const haze = glare * 30;
        const noise = (rng() + rng() - 1) * 8;
        for (let c = 0; c < 3; c++) rgb[i * 3 + c] = rgb[i * 3 + c]! * gain[c]! * shadow + hot + haze + noise;
      }
    }
  }
  if (st.raining) {
    for (let k = 0; k < W * H * 0.02; k++) {
      const i = Math.floor(rng() * W * H);
      for (let c = 0; c < 3; c++) rgb[i * 3 + c] = rgb[i * 3 + c]! * 0.5 + 110;
    }
  }
  for (let i = 0; i < dst.length; i++) {
    const v = rgb[i]!;
    dst[i] = v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
  }
  return dst;
}

function setPx(rgb: Float32Array, ir: Float32Array, i: number, c: [number, number, number], irv: number): void {
  rgb[i * 3] = c[0];
  rgb[i * 3 + 1] = c[1];
  rgb[i * 3 + 2] = c[2];
  ir[i] = irv;
}
