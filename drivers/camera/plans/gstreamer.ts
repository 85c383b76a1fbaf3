import type { SourceConfig } from '../../../agent/config/sections/source.js';
import type { ManifestInput } from '../../../agent/model/manifest-schema.js';
import type { Geometry } from '../../../agent/types.js';
import type { ProbedPicture, SourceDriver, SourcePlan } from '../process-source.js';
import { gstFraction, gstreamerLayout } from './output.js';
import { splitArgs } from './ffmpeg.js';
import { hasTool } from '../tools.js';
import { checkMode, parseArgusModes, parseRpicamCameras, runListCameras } from '../modes.js';
import { libcameraWarnings } from './rpicam.js';

type Cfg<T extends SourceConfig['type']> = Extract<SourceConfig, { type: T }>;

/**
 * The tail every GStreamer source ends with: scale to the letterbox content size, convert to the model's colour
 * order and write raw frames to stdout. `add-borders=false` and a 1/1 pixel aspect ratio make videoscale fill
 * exactly the size asked (the letterbox border is added by the frame reader, with the model's pad value).
 * The manifest's `input.resizeFilter` does not reach GStreamer: videoscale has no area-averaging method and scales
 * bilinearly by default (its `method` property, gst-plugins-base gst/videoscale), nvvidconv in hardware; a model
 * sensitive to the filter should be fed through an ffmpeg-based source.
 */
function rawTail(g: Geometry, input: ManifestInput, scale = true): string {
  const fmt = input.color === 'BGR' ? 'BGR' : 'RGB';
  const size = `width=${g.contentWidth},height=${g.contentHeight},pixel-aspect-ratio=1/1`;
  return scale
    ? `videoconvert ! videoscale add-borders=false ! video/x-raw,format=${fmt},${size} ! fdsink fd=1 sync=false`
    : `videoconvert ! video/x-raw,format=${fmt} ! fdsink fd=1 sync=false`;
}

/**
 * gst-launch-1.0 arguments for a pipeline description. gst_parse_launchv escapes the spaces inside each argument,
 * so the description must be split into words the way a shell would (quotes group a value with spaces, e.g.
 * caps="video/x-raw, width=640"); -q keeps gst-launch's chatter off stdout, which carries the frames.
 */
function gstStage(description: string): SourcePlan['stages'][number] {
  return { cmd: 'gst-launch-1.0', args: ['-q', ...splitArgs(description)] };
}

/** Builds the Jetson CSI capture description (exported for tests against recorded JetPack output). */
export function jetsonPipeline(c: Cfg<'jetson-csi'>, g: Geometry, input: ManifestInput): string {
  // nvarguscamerasrc delivers NV12 in NVMM (GPU) memory; nvvidconv scales in hardware and copies to system memory
  // as BGRx (the formats nvvidconv can write to system memory do not include packed 24-bit RGB), videoconvert packs it.
  const fmt = input.color === 'BGR' ? 'BGR' : 'RGB';
  return [
    `nvarguscamerasrc sensor-id=${c.sensorId}`,
    `video/x-raw(memory:NVMM),width=${c.width},height=${c.height},format=NV12,framerate=${gstFraction(c.fps)}`,
    `nvvidconv flip-method=${c.flipMethod}`,
    `video/x-raw,width=${g.contentWidth},height=${g.contentHeight},format=BGRx`,
    'videoconvert',
    `video/x-raw,format=${fmt}`,
    'fdsink fd=1 sync=false',
  ].join(' ! ');
}

/** Jetson CSI camera (Argus) through nvarguscamerasrc and nvvidconv. */
export class JetsonCsiDriver implements SourceDriver {
  readonly type = 'jetson-csi';
  readonly live = true;
  readonly loop = false;
  constructor(private readonly cfg: Cfg<'jetson-csi'>) {}
  tools(): string[] {
    return ['gst-launch-1.0', 'gst:nvarguscamerasrc', 'gst:nvvidconv'];
  }
  what(): string {
    return `sensor-id=${this.cfg.sensorId}`;
  }
  /** nvarguscamerasrc prints the sensor's modes before failing on one it does not have: say which would work. */
  explain(tail: readonly string[]): string | undefined {
    const c = this.cfg;
    const modes = parseArgusModes(tail.join('\n'));
    return modes.length ? checkMode(modes, c, { exactSize: false, what: `sensor ${c.sensorId}` }) : undefined;
  }
  async probe(): Promise<ProbedPicture> {
    return { width: this.cfg.width, height: this.cfg.height, fps: this.cfg.fps };
  }
  plan(g: Geometry, input: ManifestInput): SourcePlan {
    return { stages: [gstStage(jetsonPipeline(this.cfg, g, input))], layout: gstreamerLayout(g, input.padValue) };
  }
}

/** Builds the libcamerasrc description (Raspberry Pi CSI camera through GStreamer). */
export function libcamerasrcPipeline(c: Cfg<'libcamera'>, g: Geometry, input: ManifestInput, resolvedName?: string): string {
  const id = c.cameraName ?? resolvedName;
  const name = id ? ` camera-name=${id}` : '';
  return [`libcamerasrc${name}`, `video/x-raw,width=${c.width},height=${c.height},framerate=${gstFraction(c.fps)}`, rawTail(g, input)].join(' ! ');
}

/** Raspberry Pi CSI camera through GStreamer's libcamerasrc (package gstreamer1.0-libcamera). */
export class LibcamerasrcDriver implements SourceDriver {
  readonly type = 'libcamera';
  readonly live = true;
  readonly loop = false;
  private resolvedName: string | undefined;
  constructor(
    private readonly cfg: Cfg<'libcamera'>,
    private readonly listCameras: () => string | undefined = () => (hasTool('rpicam-hello') ? runListCameras('rpicam-hello') : undefined),
  ) {}
  tools(): string[] {
    return ['gst-launch-1.0', 'gst:libcamerasrc'];
  }
  /** libcamerasrc selects cameras by libcamera id, not index: resolve `camera: N` through --list-cameras. */
  preflight(): string[] {
    const text = this.listCameras();
    if (text === undefined) {
      return this.cfg.camera > 0 && !this.cfg.cameraName ? [`cannot map camera ${this.cfg.camera} to a libcamera id without rpicam-hello: set source.cameraName; using the first camera`] : [];
    }
    this.resolvedName = parseRpicamCameras(text).find((x) => x.index === this.cfg.camera)?.id;
    return libcameraWarnings(text, this.cfg);
  }
  what(): string {
    return `libcamerasrc ${this.cfg.cameraName ?? `camera ${this.cfg.camera}`}`;
  }
  async probe(): Promise<ProbedPicture> {
    return { width: this.cfg.width, height: this.cfg.height, fps: this.cfg.fps };
  }
  plan(g: Geometry, input: ManifestInput): SourcePlan {
    return { stages: [gstStage(libcamerasrcPipeline(this.cfg, g, input, this.resolvedName))], layout: gstreamerLayout(g, input.padValue) };
  }
}

/** A user GStreamer pipeline up to (not including) the sink; scaling, colour conversion and the sink are appended. */
export class GstPipelineDriver implements SourceDriver {
  readonly type = 'pipeline';
  readonly live = true;
  readonly loop = false;
  constructor(private readonly cfg: Cfg<'pipeline'>) {}
  tools(): string[] {
    return ['gst-launch-1.0'];
  }
  what(): string {
    return `gstreamer ${this.cfg.pipeline}`;
  }
  async probe(): Promise<ProbedPicture> {
    return { width: this.cfg.width, height: this.cfg.height, fps: this.cfg.fps };
  }
  plan(g: Geometry, input: ManifestInput): SourcePlan {
    const user = this.cfg.pipeline.trim().replace(/\s*!\s*$/, '');
    return { stages: [gstStage(`${user} ! ${rawTail(g, input)}`)], layout: gstreamerLayout(g, input.padValue) };
  }
}
