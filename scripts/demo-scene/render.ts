/**
 * Renders frame t of a scene to rgb24 (width*height*3 bytes): scrolled belt, parts with shadows, lighting,
 * a slight optical blur ([1 2 1] kernel each way) and sensor noise. Each frame depends only on (scene, t),
 * so frames can be rendered in any order and a test can render frame 0 alone.
 */
import { type Scene, partBox } from './scene.js';
import { mixSeed } from './prng.js';

interface Work {
  a: Float32Array;
  b: Float32Array;
}

const workBuffers = new WeakMap<Scene, Work>();

function work(scene: Scene): Work {
  let w = workBuffers.get(scene);
  if (!w) {
    const n = scene.width * scene.height * 3;
    w = { a: new Float32Array(n), b: new Float32Array(n) };
    workBuffers.set(scene, w);
  }
  return w;
}

export function renderFrame(scene: Scene, t: number, out?: Uint8Array): Uint8Array {
  const { width: W, height: H, look } = scene;
  const dst = out ?? new Uint8Array(W * H * 3);
  const { a, b } = work(scene);
  a.set(look.background);

  // Belt: texture scrolled right by speed*t (the belt moves with the parts).
  const offset = (scene.speed * t) % look.texWidth;
  const [tr, tg, tb] = look.beltTint;
  for (let y = look.beltTop; y < look.beltBottom; y++) {
    const row = (y - look.beltTop) * look.texWidth;
    let i = y * W * 3;
    for (let x = 0; x < W; x++, i += 3) {
      let tx = x - offset;
      if (tx < 0) tx += look.texWidth;
      const g = look.belt[row + tx]!;
      a[i] = g * tr;
      a[i + 1] = g * tg;
      a[i + 2] = g * tb;
    }
  }

  for (const p of scene.parts) {
    const box = partBox(scene, p, t);
    if (box.x2 + 16 <= 0 || box.x1 - 16 >= W) continue;
    const s = p.sprite;
    const sx = p.x0 + scene.speed * t;
    const x0 = Math.max(0, -sx);
    const x1 = Math.min(s.width, W - sx);
    for (let py = 0; py < s.height; py++) {
      const y = p.y0 + py;
      if (y < 0 || y >= H) continue;
      for (let px = x0; px < x1; px++) {
        const k = py * s.width + px;
        const al = s.alpha[k]!;
        const sh = s.shadow[k]!;
        if (al === 0 && sh === 0) continue;
        const i = (y * W + sx + px) * 3;
        const keep = (1 - sh) * (1 - al);
        a[i] = a[i]! * keep + s.rgb[k * 3]!;
        a[i + 1] = a[i + 1]! * keep + s.rgb[k * 3 + 1]!;
        a[i + 2] = a[i + 2]! * keep + s.rgb[k * 3 + 2]!;
      }
    }
  }

  // Lighting and white balance.
  const [wr, wg, wb] = look.tint;
  for (let p = 0, i = 0; p < W * H; p++, i += 3) {
    const l = look.light[p]!;
    a[i] = a[i]! * l * wr;
    a[i + 1] = a[i + 1]! * l * wg;
    a[i + 2] = a[i + 2]! * l * wb;
  }

  // Slight blur: [1 2 1]/4 horizontally (a -> b), then vertically (b -> a), edges clamped.
  const rowLen = W * 3;
  for (let y = 0; y < H; y++) {
    const r = y * rowLen;
    const end = r + rowLen;
    for (let i = r; i < r + 3; i++) b[i] = (3 * a[i]! + a[i + 3]!) * 0.25;
    for (let i = r + 3; i < end - 3; i++) b[i] = (a[i - 3]! + 2 * a[i]! + a[i + 3]!) * 0.25;
    for (let i = end - 3; i < end; i++) b[i] = (a[i - 3]! + 3 * a[i]!) * 0.25;
  }
  for (let y = 0; y < H; y++) {
    const up = y > 0 ? -rowLen : 0;
    const dn = y < H - 1 ? rowLen : 0;
    const r = y * rowLen;
    for (let i = r; i < r + rowLen; i++) a[i] = (b[i + up]! + 2 * b[i]! + b[i + dn]!) * 0.25;
  }

  // Sensor noise: triangular distribution from two 16-bit halves of a xorshift32 draw, scaled to sigma.
  let state = mixSeed(scene.seed, 7, t) || 1;
  const scale = look.noiseSigma / 0.4082;
  // A clamped view does the 0..255 clamp and rounding on store.
  const clamped = new Uint8ClampedArray(dst.buffer, dst.byteOffset, dst.length);
  for (let i = 0; i < W * H * 3; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const n = ((state & 0xffff) + ((state >>> 16) & 0xffff)) / 65535 - 1;
    clamped[i] = a[i]! + n * scale;
  }
  return dst;
}
