import jpeg from 'jpeg-js';
import type { Frame, Geometry } from '../types.js';

export interface SnapshotBox {
  box: [number, number, number, number];
  label?: string;
  score?: number;
}

export interface SnapshotResult {
  jpeg: Buffer;
  width: number;
  height: number;
  quality: number;
}

/** Quality steps tried in turn until the JPEG fits; then the picture is halved and tried again. */
const QUALITIES = [80, 65, 50, 35, 20];
const BOX_RGB: [number, number, number] = [255, 32, 32];

/**
 * A JPEG of the frame with the event boxes drawn, no larger than `maxBytes`, or undefined when even a
 * quarter-size, low-quality picture does not fit. The frame is cropped to the source picture when its
 * letterbox geometry is given, so boxes (normalised to the picture) land where they belong.
 * jpeg-js is pure JavaScript: a 640x480 encode costs tens of ms on a Pi, paid only per anomaly, never per frame.
 */
export function encodeSnapshot(frame: Frame, boxes: SnapshotBox[], maxBytes: number, geometry?: Geometry): SnapshotResult | undefined {
  let img = toRgba(frame, geometry);
  drawBoxes(img, boxes);
  for (let halvings = 0; halvings < 3; halvings++) {
    for (const quality of QUALITIES) {
      const out = jpeg.encode({ data: img.data, width: img.width, height: img.height }, quality);
      if (out.data.length <= maxBytes) return { jpeg: Buffer.from(out.data), width: img.width, height: img.height, quality };
    }
    if (img.width < 32 || img.height < 32) break;
    img = halve(img);
  }
  return undefined;
}

interface Rgba {
  data: Buffer;
  width: number;
  height: number;
}

function toRgba(frame: Frame, g?: Geometry): Rgba {
  const x0 = g ? g.padX : 0;
  const y0 = g ? g.padY : 0;
  const w = g ? g.contentWidth : frame.width;
  const h = g ? g.contentHeight : frame.height;
  const planar = frame.format === 'gbrp';
  const ch = frame.format === 'gray' || planar ? 1 : 3;
  const plane = frame.width * frame.height; // gbrp: G, B, R planes
  const out = Buffer.allocUnsafe(w * h * 4);
  for (let y = 0; y < h; y++) {
    let src = ((y + y0) * frame.width + x0) * ch;
    let dst = y * w * 4;
    for (let x = 0; x < w; x++, src += ch, dst += 4) {
      if (planar) {
        out[dst] = frame.data[2 * plane + src]!;
        out[dst + 1] = frame.data[src]!;
        out[dst + 2] = frame.data[plane + src]!;
      } else if (ch === 1) {
        const v = frame.data[src]!;
        out[dst] = v;
        out[dst + 1] = v;
        out[dst + 2] = v;
      } else if (frame.format === 'bgr24') {
        out[dst] = frame.data[src + 2]!;
        out[dst + 1] = frame.data[src + 1]!;
        out[dst + 2] = frame.data[src]!;
      } else {
        out[dst] = frame.data[src]!;
        out[dst + 1] = frame.data[src + 1]!;
        out[dst + 2] = frame.data[src + 2]!;
      }
      out[dst + 3] = 255;
    }
  }
  return { data: out, width: w, height: h };
}

function drawBoxes(img: Rgba, boxes: SnapshotBox[]): void {
  const t = Math.max(2, Math.round(Math.min(img.width, img.height) / 160));
  for (const b of boxes) {
    const clamp = (v: number, max: number) => Math.min(max - 1, Math.max(0, Math.round(v)));
    const x1 = clamp(b.box[0] * img.width, img.width);
    const y1 = clamp(b.box[1] * img.height, img.height);
    const x2 = clamp(b.box[2] * img.width, img.width);
    const y2 = clamp(b.box[3] * img.height, img.height);
    fill(img, x1, y1, x2, Math.min(y2, y1 + t - 1));
    fill(img, x1, Math.max(y1, y2 - t + 1), x2, y2);
    fill(img, x1, y1, Math.min(x2, x1 + t - 1), y2);
    fill(img, Math.max(x1, x2 - t + 1), y1, x2, y2);
  }
}

function fill(img: Rgba, x1: number, y1: number, x2: number, y2: number): void {
  for (let y = y1; y <= y2; y++) {
    for (let x = x1; x <= x2; x++) {
      const o = (y * img.width + x) * 4;
      img.data[o] = BOX_RGB[0];
      img.data[o + 1] = BOX_RGB[1];
      img.data[o + 2] = BOX_RGB[2];
    }
  }
}

function halve(img: Rgba): Rgba {
  const w = img.width >> 1;
  const h = img.height >> 1;
  const out = Buffer.allocUnsafe(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const a = ((2 * y) * img.width + 2 * x) * 4;
      const b = a + img.width * 4;
      const o = (y * w + x) * 4;
      for (let c = 0; c < 4; c++) out[o + c] = (img.data[a + c]! + img.data[a + 4 + c]! + img.data[b + c]! + img.data[b + 4 + c]! + 2) >> 2;
    }
  }
  return { data: out, width: w, height: h };
}
