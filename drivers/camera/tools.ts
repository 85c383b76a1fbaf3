import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { AgentError } from '../../agent/errors.js';
import { runOnProcessCpus } from '../inference/affinity.js';

/** Injected process spawner (tests may record or replace the command; production uses node's spawn). */
export type Spawner = (cmd: string, args: string[], opts: SpawnOptions) => ChildProcess;
export const defaultSpawner: Spawner = (cmd, args, opts) => {
  const child = spawn(cmd, args, opts);
  // Spawned from the main thread, which may be kept off the inference thread's CPU: a decoder runs on them all.
  runOnProcessCpus(child.pid);
  return child;
};

const installHint: Record<string, string> = {
  ffmpeg: 'install it with `sudo apt install ffmpeg`',
  ffprobe: 'install it with `sudo apt install ffmpeg`',
  'gst-launch-1.0': 'install it with `sudo apt install gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good`',
  'gst-inspect-1.0': 'install it with `sudo apt install gstreamer1.0-tools`',
  'rpicam-vid': 'install rpicam-apps (`sudo apt install rpicam-apps`)',
  'libcamera-vid': 'install rpicam-apps (`sudo apt install rpicam-apps`; libcamera-apps on Bullseye)',
  'v4l2-ctl': 'install it with `sudo apt install v4l-utils`',
  // GStreamer elements (checked with gst-inspect-1.0 --exists).
  'gst:libcamerasrc': 'install the libcamera GStreamer element with `sudo apt install gstreamer1.0-libcamera`',
  'gst:nvarguscamerasrc': 'it ships with JetPack (package nvidia-l4t-gstreamer); reinstall it with `sudo apt install nvidia-l4t-gstreamer`',
  'gst:nvvidconv': 'it ships with JetPack (package nvidia-l4t-gstreamer); reinstall it with `sudo apt install nvidia-l4t-gstreamer`',
  'gst:videoconvert': 'install it with `sudo apt install gstreamer1.0-plugins-base`',
};

const found = new Map<string, boolean>();

/**
 * Whether a tool is on PATH (cached). `gst:ELEMENT` asks whether a GStreamer element is installed
 * (`gst-inspect-1.0 --exists ELEMENT`): a missing libcamerasrc is the usual reason a Pi camera "is not found".
 */
export function hasTool(name: string): boolean {
  let ok = found.get(name);
  if (ok === undefined) {
    if (name.startsWith('gst:')) {
      ok = hasTool('gst-inspect-1.0') && spawnSync('gst-inspect-1.0', ['--exists', name.slice(4)], { stdio: 'ignore' }).status === 0;
    } else {
      ok = /^[\w.+-]+$/.test(name) && spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
    }
    found.set(name, ok);
  }
  return ok;
}

/** Throws a one-line TOOL_MISSING error naming the package to install. */
export function requireTool(name: string, forWhat: string): void {
  if (!hasTool(name)) {
    const what = name.startsWith('gst:') ? `GStreamer element ${name.slice(4)}` : name;
    throw new AgentError('TOOL_MISSING', `${what} not found (needed for ${forWhat})`, { fix: installHint[name] ?? `install ${name}` });
  }
}

export interface ProbeResult {
  width: number;
  height: number;
  fps: number | undefined;
  frames: number | undefined;
  durationS: number | undefined;
  codec: string;
}

/** Reads a video's first stream with ffprobe; a file that is not a video gives SOURCE_CORRUPT. */
export async function ffprobe(input: string, extraArgs: string[] = [], spawner: Spawner = defaultSpawner): Promise<ProbeResult> {
  requireTool('ffprobe', 'reading video files');
  const args = ['-v', 'error', ...extraArgs, '-select_streams', 'v:0', '-show_entries', 'stream=width,height,avg_frame_rate,r_frame_rate,nb_frames,codec_name,duration', '-of', 'json', input];
  const child = spawner('ffprobe', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number>((res) => child.on('close', (c) => res(c ?? 1)));
  const stream = code === 0 ? (JSON.parse(out || '{}') as { streams?: Array<Record<string, string | number>> }).streams?.[0] : undefined;
  if (!stream || !stream.width) {
    const why = err.trim().split('\n').pop() || 'no video stream found';
    throw new AgentError('SOURCE_CORRUPT', `${input} is not a readable video (${why})`, { fix: 'give a video file ffmpeg can play (e.g. MP4/H.264), or check the URL' });
  }
  const rate = parseRate(String(stream.avg_frame_rate ?? '')) ?? parseRate(String(stream.r_frame_rate ?? ''));
  const nb = Number(stream.nb_frames);
  const dur = Number(stream.duration);
  return {
    width: Number(stream.width),
    height: Number(stream.height),
    fps: rate,
    frames: Number.isFinite(nb) && nb > 0 ? nb : undefined,
    durationS: Number.isFinite(dur) && dur > 0 ? dur : undefined,
    codec: String(stream.codec_name ?? 'unknown'),
  };
}

function parseRate(r: string): number | undefined {
  const m = /^(\d+)\/(\d+)$/.exec(r);
  if (!m) return undefined;
  const v = Number(m[1]) / Number(m[2]);
  return Number.isFinite(v) && v > 0 ? v : undefined;
}

/**
 * The presentation time of every frame of a file's first video stream, ms from the first, in presentation order
 * (packet timestamps sorted: B-frames come in decode order). Read from the container's index without decoding.
 * Undefined when the container gives none (a raw stream) or ffprobe fails: the caller falls back to the frame
 * rate. With `-fps_mode passthrough` ffmpeg writes one frame per decoded frame, so frame N has the N-th time.
 */
export async function probeFramePtsMs(input: string, spawner: Spawner = defaultSpawner, maxFrames = 2_000_000): Promise<number[] | undefined> {
  try {
    const child = spawner('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', input], { stdio: ['ignore', 'pipe', 'ignore'] });
    const chunks: Buffer[] = [];
    let bytes = 0;
    child.stdout!.on('data', (d: Buffer) => {
      bytes += d.length;
      if (bytes <= maxFrames * 24) chunks.push(d);
      else child.kill('SIGKILL');
    });
    const code = await new Promise<number>((res) => {
      child.on('error', () => res(1));
      child.on('close', (c) => res(c ?? 1));
    });
    if (code !== 0) return undefined;
    const times: number[] = [];
    for (const line of Buffer.concat(chunks).toString().split('\n')) {
      const t = line.trim().replace(/,$/, '');
      if (!t) continue;
      const v = Number(t);
      if (!Number.isFinite(v)) return undefined; // "N/A": no timestamps to trust
      times.push(Math.round(v * 1e6) / 1e3); // ffprobe prints microseconds
    }
    if (!times.length) return undefined;
    times.sort((a, b) => a - b);
    const t0 = times[0]!;
    return times.map((t) => Math.round((t - t0) * 1e3) / 1e3);
  } catch {
    return undefined;
  }
}
