/**
 * Draws detection boxes and labels into a packed RGB buffer (source resolution), with no image library:
 * rectangles of a given thickness and a tiny 3x5 bitmap font for the label and score.
 */
export interface DrawBox {
  box: [number, number, number, number];
  label: string;
  score: number;
}

/** A distinct colour per class index (golden-angle hues). */
export function classColour(i: number): [number, number, number] {
  const h = (i * 137.508) % 360;
  const f = (n: number): number => {
    const k = (n + h / 60) % 6;
    return Math.round(255 * (1 - Math.max(0, Math.min(k, 4 - k, 1))));
  };
  return [f(5), f(3), f(1)];
}

export function fillRect(rgb: Uint8Array, width: number, height: number, x1: number, y1: number, x2: number, y2: number, c: [number, number, number]): void {
  const xa = Math.max(0, Math.floor(x1));
  const ya = Math.max(0, Math.floor(y1));
  const xb = Math.min(width, Math.ceil(x2));
  const yb = Math.min(height, Math.ceil(y2));
  for (let y = ya; y < yb; y++) {
    for (let x = xa; x < xb; x++) {
      const o = (y * width + x) * 3;
      rgb[o] = c[0];
      rgb[o + 1] = c[1];
      rgb[o + 2] = c[2];
    }
  }
}

export function strokeRect(rgb: Uint8Array, width: number, height: number, x1: number, y1: number, x2: number, y2: number, c: [number, number, number], t: number): void {
  fillRect(rgb, width, height, x1, y1, x2, y1 + t, c);
  fillRect(rgb, width, height, x1, y2 - t, x2, y2, c);
  fillRect(rgb, width, height, x1, y1, x1 + t, y2, c);
  fillRect(rgb, width, height, x2 - t, y1, x2, y2, c);
}

// 3x5 glyphs, one row per 3-bit number (MSB = left pixel).
const glyphs: Record<string, number[]> = {
  '0': [7, 5, 5, 5, 7], '1': [2, 6, 2, 2, 7], '2': [7, 1, 7, 4, 7], '3': [7, 1, 7, 1, 7], '4': [5, 5, 7, 1, 1],
  '5': [7, 4, 7, 1, 7], '6': [7, 4, 7, 5, 7], '7': [7, 1, 1, 1, 1], '8': [7, 5, 7, 5, 7], '9': [7, 5, 7, 1, 7],
  '.': [0, 0, 0, 0, 2], ' ': [0, 0, 0, 0, 0], '_': [0, 0, 0, 0, 7], '-': [0, 0, 7, 0, 0], ':': [0, 2, 0, 2, 0],
  a: [2, 5, 7, 5, 5], b: [6, 5, 6, 5, 6], c: [7, 4, 4, 4, 7], d: [6, 5, 5, 5, 6], e: [7, 4, 6, 4, 7], f: [7, 4, 6, 4, 4],
  g: [7, 4, 5, 5, 7], h: [5, 5, 7, 5, 5], i: [7, 2, 2, 2, 7], j: [1, 1, 1, 5, 7], k: [5, 5, 6, 5, 5], l: [4, 4, 4, 4, 7],
  m: [5, 7, 7, 5, 5], n: [6, 5, 5, 5, 5], o: [7, 5, 5, 5, 7], p: [7, 5, 7, 4, 4], q: [7, 5, 5, 7, 1], r: [6, 5, 6, 5, 5],
  s: [7, 4, 7, 1, 7], t: [7, 2, 2, 2, 2], u: [5, 5, 5, 5, 7], v: [5, 5, 5, 5, 2], w: [5, 5, 7, 7, 5], x: [5, 5, 2, 5, 5],
  y: [5, 5, 2, 2, 2], z: [7, 1, 2, 4, 7],
};

export function drawText(rgb: Uint8Array, width: number, height: number, x: number, y: number, text: string, c: [number, number, number], scale: number): void {
  let cx = x;
  for (const ch of text.toLowerCase()) {
    const g = glyphs[ch] ?? glyphs[' ']!;
    for (let r = 0; r < 5; r++) {
      for (let b = 0; b < 3; b++) {
        if (g[r]! & (4 >> b)) fillRect(rgb, width, height, cx + b * scale, y + r * scale, cx + (b + 1) * scale, y + (r + 1) * scale, c);
      }
    }
    cx += 4 * scale;
  }
}

/** Draws every box (pixel coordinates) with a filled label tag above it. */
export function drawDetections(rgb: Uint8Array, width: number, height: number, dets: Array<DrawBox & { classId: number }>): void {
  const t = Math.max(2, Math.round(Math.min(width, height) / 250));
  const scale = Math.max(2, Math.round(Math.min(width, height) / 200));
  for (const d of dets) {
    const c = classColour(d.classId);
    const [x1, y1, x2, y2] = d.box;
    strokeRect(rgb, width, height, x1, y1, x2, y2, c, t);
    const text = `${d.label} ${d.score.toFixed(2)}`;
    const tw = text.length * 4 * scale + scale;
    const th = 7 * scale;
    const ty = y1 - th >= 0 ? y1 - th : y1;
    fillRect(rgb, width, height, x1, ty, x1 + tw, ty + th, c);
    drawText(rgb, width, height, x1 + scale, ty + scale, text, [0, 0, 0], scale);
  }
}
