import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * V4L2 device listing for `doctor`: every /dev/videoN with the name its driver gives it
 * (/sys/class/video4linux/videoN/name: the `name` attribute of struct video_device, created in the kernel's
 * drivers/media/v4l2-core/v4l2-dev.c) and, when v4l-utils is installed, the capture formats, sizes and frame
 * rates parsed from `v4l2-ctl --device /dev/videoN --list-formats-ext`.
 */

export interface FrameSizeInfo {
  /** Discrete size, or the largest size of a stepwise/continuous range. */
  width: number;
  height: number;
  /** For stepwise/continuous ranges, the smallest size and step. */
  min?: { width: number; height: number };
  step?: { width: number; height: number };
  /** Frame rates offered at this size (discrete intervals); empty when continuous or not listed. */
  fps: number[];
}

export interface PixelFormatInfo {
  /** Four-character code as v4l2-ctl prints it, e.g. "MJPG", "YUYV", "RG10". */
  fourcc: string;
  description: string;
  compressed: boolean;
  sizes: FrameSizeInfo[];
}

export interface VideoDeviceInfo {
  device: string;
  /** /sys/class/video4linux/videoN/name */
  name: string | undefined;
  /** Parsed capture formats; undefined when v4l2-ctl is missing or failed. */
  formats: PixelFormatInfo[] | undefined;
  /** Why formats are missing (for doctor). */
  note?: string;
  /** The `source.pixelFormat` value to use with this device, when one of its formats is supported by ffmpeg's v4l2 input. */
  suggested?: { pixelFormat: 'mjpeg' | 'yuyv422' | 'h264'; width: number; height: number; fps: number };
}

/** fourcc -> our `source.pixelFormat` (ffmpeg -input_format name). */
const ffmpegInput: Record<string, 'mjpeg' | 'yuyv422' | 'h264'> = { MJPG: 'mjpeg', JPEG: 'mjpeg', YUYV: 'yuyv422', H264: 'h264' };

/**
 * Parses `v4l2-ctl --list-formats-ext`. The layout is v4l-utils' (utils/v4l2-ctl/v4l2-ctl-common.cpp and
 * v4l2-ctl-vidcap.cpp): a "[i]: 'FOURCC' (Description[, compressed])" line per format, then
 * "Size: Discrete WxH" or "Size: Stepwise WxH - WxH with step W/H" (or "Continuous"), then
 * "Interval: Discrete 0.033s (30.000 fps)" lines. Older v4l-utils print "Index : i / Pixel Format: 'MJPG'
 * (compressed) / Name : Motion-JPEG" blocks instead; both are read. Only capture types are kept.
 */
export function parseListFormatsExt(text: string): PixelFormatInfo[] {
  const out: PixelFormatInfo[] = [];
  let fmt: PixelFormatInfo | undefined;
  let size: FrameSizeInfo | undefined;
  let capture = true;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    let m: RegExpExecArray | null;
    if ((m = /^Type\s*:\s*(.+)$/.exec(line))) {
      capture = /Capture/i.test(m[1]!);
      continue;
    }
    if ((m = /^\[\d+\]:\s*'(.{1,4})'\s*\((.*)\)\s*$/.exec(line))) {
      if (!capture) continue;
      const desc = m[2]!;
      fmt = { fourcc: m[1]!.trim(), description: desc.replace(/,\s*compressed$/, ''), compressed: /compressed/.test(desc), sizes: [] };
      out.push(fmt);
      size = undefined;
      continue;
    }
    if ((m = /^Pixel Format\s*:\s*'(.{1,4})'(.*)$/.exec(line))) {
      if (!capture) continue;
      fmt = { fourcc: m[1]!.trim(), description: '', compressed: /compressed/.test(m[2]!), sizes: [] };
      out.push(fmt);
      size = undefined;
      continue;
    }
    if ((m = /^Name\s*:\s*(.+)$/.exec(line)) && fmt && !fmt.description) {
      fmt.description = m[1]!;
      continue;
    }
    if (!fmt || !capture) continue;
    if ((m = /^Size:\s*Discrete\s+(\d+)x(\d+)/.exec(line))) {
      size = { width: Number(m[1]), height: Number(m[2]), fps: [] };
      fmt.sizes.push(size);
      continue;
    }
    if ((m = /^Size:\s*(?:Stepwise|Continuous)\s+(\d+)x(\d+)\s*-\s*(\d+)x(\d+)(?:\s+with step\s+(\d+)\/(\d+))?/.exec(line))) {
      size = {
        width: Number(m[3]),
        height: Number(m[4]),
        min: { width: Number(m[1]), height: Number(m[2]) },
        ...(m[5] ? { step: { width: Number(m[5]), height: Number(m[6]) } } : {}),
        fps: [],
      };
      fmt.sizes.push(size);
      continue;
    }
    if ((m = /^Interval:\s*Discrete\s+[\d.]+s\s*\(([\d.]+)\s*fps\)/.exec(line)) && size) {
      const fps = Number(m[1]);
      if (Number.isFinite(fps) && fps > 0 && !size.fps.includes(fps)) size.fps.push(fps);
    }
  }
  return out;
}

/**
 * The mode to suggest for a config: a format ffmpeg's v4l2 input can ask for (MJPEG first: it needs the least USB
 * bandwidth, so USB 2 cameras reach their full rate), the size closest to `want` and at least `minFps` if offered.
 */
export function suggestMode(formats: PixelFormatInfo[], want = { width: 640, height: 480 }, minFps = 15): VideoDeviceInfo['suggested'] {
  const order = ['MJPG', 'JPEG', 'YUYV', 'H264'];
  for (const cc of order) {
    const f = formats.find((x) => x.fourcc === cc);
    if (!f || !f.sizes.length) continue;
    const ranked = [...f.sizes].sort((a, b) => distance(a, want) - distance(b, want));
    const s = ranked.find((x) => x.fps.some((r) => r >= minFps)) ?? ranked[0]!;
    const fps = s.fps.length ? Math.max(...s.fps.filter((r) => r <= 30), Math.min(...s.fps)) : minFps;
    const isRange = Boolean(s.min);
    return { pixelFormat: ffmpegInput[cc]!, width: isRange ? clampTo(want.width, s.min!.width, s.width) : s.width, height: isRange ? clampTo(want.height, s.min!.height, s.height) : s.height, fps };
  }
  return undefined;
}

function distance(s: { width: number; height: number }, want: { width: number; height: number }): number {
  return Math.abs(s.width * s.height - want.width * want.height);
}

function clampTo(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

export interface ListOptions {
  /** Filesystem root (a sysroot fixture in tests). */
  root?: string;
  /** Runs `v4l2-ctl --device DEV --list-formats-ext`; returns its stdout or undefined when unavailable. */
  listFormats?: (device: string) => string | undefined;
}

/** Runs the real v4l2-ctl (v4l-utils), if installed. */
export function runV4l2Ctl(device: string): string | undefined {
  const r = spawnSync('v4l2-ctl', ['--device', device, '--list-formats-ext'], { encoding: 'utf8', timeout: 5000 });
  if (r.error || r.status !== 0) return undefined;
  return r.stdout;
}

/** Every /dev/videoN with its driver-given name and capture formats, in device-number order. */
export function listVideoDevices(opts: ListOptions = {}): VideoDeviceInfo[] {
  const root = opts.root ?? '/';
  const sysDir = join(root, 'sys/class/video4linux');
  const devDir = join(root, 'dev');
  const names = new Set<string>();
  for (const dir of [sysDir, devDir]) {
    if (!existsSync(dir)) continue;
    for (const n of readdirSync(dir)) if (/^video\d+$/.test(n)) names.add(n);
  }
  const listFormats = opts.listFormats ?? runV4l2Ctl;
  return [...names]
    .sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)))
    .map((n) => {
      const device = `/dev/${n}`;
      const nameFile = join(sysDir, n, 'name');
      const name = existsSync(nameFile) ? readFileSync(nameFile, 'utf8').trim() : undefined;
      const text = listFormats(device);
      if (text === undefined) return { device, name, formats: undefined, note: 'formats unknown: install v4l-utils (v4l2-ctl) to list them' };
      const formats = parseListFormatsExt(text);
      const info: VideoDeviceInfo = { device, name, formats };
      // UVC cameras expose a second node for metadata with no capture format: say so rather than list it bare.
      if (!formats.length) info.note = 'no capture format (a metadata or output node, not the camera picture)';
      const suggested = suggestMode(formats);
      if (suggested) info.suggested = suggested;
      return info;
    });
}
