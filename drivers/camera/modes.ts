import { spawnSync } from 'node:child_process';
import type { PixelFormatInfo } from './v4l2-devices.js';

/** A capture mode a camera offers. */
export interface CameraMode {
  width: number;
  height: number;
  /** Highest frame rate at this size. */
  maxFps: number;
  /** Pixel format as the tool names it (e.g. SRGGB10_CSI2P, MJPG). */
  format?: string;
}

export interface LibcameraCamera {
  index: number;
  sensor: string;
  /** The libcamera id, e.g. /base/axi/pcie@1000120000/rp1/i2c@88000/imx708@1a (libcamerasrc camera-name). */
  id: string;
  maxWidth: number;
  maxHeight: number;
  modes: CameraMode[];
}

/**
 * Parses `rpicam-hello --list-cameras` (rpicam-apps): "N : sensor [WxH ...] (id)" then
 * "Modes: 'FORMAT' : WxH [F fps - ...]" with continuation lines of further sizes and formats.
 */
export function parseRpicamCameras(text: string): LibcameraCamera[] {
  const out: LibcameraCamera[] = [];
  let cam: LibcameraCamera | undefined;
  let format: string | undefined;
  for (const line of text.split('\n')) {
    let m = /^\s*(\d+)\s*:\s*(\S+)\s*\[(\d+)x(\d+)[^\]]*\]\s*\(([^)]+)\)/.exec(line);
    if (m) {
      cam = { index: Number(m[1]), sensor: m[2]!, maxWidth: Number(m[3]), maxHeight: Number(m[4]), id: m[5]!, modes: [] };
      out.push(cam);
      format = undefined;
      continue;
    }
    if (!cam) continue;
    const f = /'([^']+)'\s*:/.exec(line);
    if (f) format = f[1];
    m = /(\d+)x(\d+)\s*\[([\d.]+)\s*fps/.exec(line);
    if (m) cam.modes.push({ width: Number(m[1]), height: Number(m[2]), maxFps: Number(m[3]), ...(format ? { format } : {}) });
  }
  return out;
}

/** Parses the sensor modes nvarguscamerasrc prints on stderr ("GST_ARGUS: 1920 x 1080 FR = 29.999999 fps ..."). */
export function parseArgusModes(text: string): CameraMode[] {
  const out: CameraMode[] = [];
  const re = /GST_ARGUS:\s*(\d+)\s*x\s*(\d+)\s*FR\s*=\s*([\d.]+)\s*fps/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) out.push({ width: Number(m[1]), height: Number(m[2]), maxFps: Math.round(Number(m[3]) * 100) / 100 });
  return out;
}

/** V4L2 formats -> modes of one ffmpeg input format (mjpeg/yuyv422/h264). */
export function v4l2Modes(formats: PixelFormatInfo[], pixelFormat: 'mjpeg' | 'yuyv422' | 'h264'): CameraMode[] {
  const fourccs = { mjpeg: ['MJPG', 'JPEG'], yuyv422: ['YUYV'], h264: ['H264'] }[pixelFormat];
  return formats
    .filter((f) => fourccs.includes(f.fourcc))
    .flatMap((f) => f.sizes.map((s) => ({ width: s.width, height: s.height, maxFps: s.fps.length ? Math.max(...s.fps) : Infinity, format: f.fourcc })));
}

/**
 * Checks a wanted capture mode against what the camera offers. Returns undefined when offered, else one line
 * saying what is offered instead (the caller logs it; the capture tool may still pick the nearest mode).
 * Sensors scale and crop (libcamera, Argus), so for them any size up to a mode is fine at that mode's rate;
 * V4L2 sizes must match exactly.
 */
export function checkMode(modes: CameraMode[], want: { width: number; height: number; fps: number }, opts: { exactSize: boolean; what: string }): string | undefined {
  if (!modes.length) return `${opts.what} lists no capture mode`;
  const fits = (m: CameraMode): boolean => (opts.exactSize ? m.width === want.width && m.height === want.height : m.width >= want.width && m.height >= want.height);
  const sized = modes.filter(fits);
  const offered = modes.map((m) => `${m.width}x${m.height}@${Number.isFinite(m.maxFps) ? m.maxFps : '?'}`).join(', ');
  if (!sized.length) return `${opts.what} does not offer ${want.width}x${want.height}; it offers ${offered}`;
  const best = Math.max(...sized.map((m) => m.maxFps));
  if (best + 0.01 < want.fps) return `${opts.what} reaches at most ${best} fps at ${want.width}x${want.height}, not ${want.fps}; it offers ${offered}`;
  return undefined;
}

/** Runs `rpicam-hello --list-cameras` (libcamera-hello on older releases); undefined when unavailable. */
export function runListCameras(tool = 'rpicam-hello'): string | undefined {
  const r = spawnSync(tool, ['--list-cameras'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error || r.status !== 0) return undefined;
  return `${r.stdout}${r.stderr}`;
}
