import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { sourceSchema, type SourceConfig } from '../../agent/config/sections/source.js';
import type { ManifestInput } from '../../agent/model/manifest-schema.js';
import { computeGeometry } from '../../agent/preprocess/geometry.js';
import { driverFor } from '../../drivers/camera/index.js';
import { explainFailure } from '../../drivers/camera/failures.js';
import { checkMode, parseArgusModes, parseRpicamCameras, v4l2Modes } from '../../drivers/camera/modes.js';
import { V4l2Driver, redactUrl, splitArgs } from '../../drivers/camera/plans/ffmpeg.js';
import { JetsonCsiDriver, LibcamerasrcDriver, jetsonPipeline } from '../../drivers/camera/plans/gstreamer.js';
import { mjpegLowresArgs } from '../../drivers/camera/plans/output.js';
import { RpicamDriver, libcameraWarnings, rpicamArgs, rpicamSize } from '../../drivers/camera/plans/rpicam.js';
import { RawFrameReader } from '../../drivers/camera/raw-reader.js';
import { listVideoDevices, parseListFormatsExt, suggestMode } from '../../drivers/camera/v4l2-devices.js';

const fx = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'cameras');
const read = (f: string): string => readFileSync(join(fx, f), 'utf8');

const input = { name: 'images', shape: [1, 3, 240, 320], layout: 'NCHW', color: 'RGB', resize: 'letterbox', letterboxAlign: 'center', padValue: 114, normalise: { mean: [0, 0, 0], std: [255, 255, 255] } } as unknown as ManifestInput;
const cfg = <T extends SourceConfig['type']>(c: { type: T } & Record<string, unknown>): Extract<SourceConfig, { type: T }> => sourceSchema.parse(c) as Extract<SourceConfig, { type: T }>;

describe('v4l2-ctl --list-formats-ext parsing (recorded output)', () => {
  it('reads formats, sizes and frame rates of a UVC webcam', () => {
    const f = parseListFormatsExt(read('uvc-mjpg-yuyv-1080p.list-formats-ext.txt'));
    expect(f.map((x) => [x.fourcc, x.compressed, x.sizes.length])).toEqual([
      ['MJPG', true, 5],
      ['YUYV', false, 2],
    ]);
    expect(f[0]!.description).toBe('Motion-JPEG');
    expect(f[0]!.sizes[0]).toEqual({ width: 1920, height: 1080, fps: [30] });
    const g = parseListFormatsExt(read('uvc-mjpg-720p.list-formats-ext.txt'));
    expect(g[0]!.sizes[1]!.fps).toEqual([60, 50, 30, 25, 20, 15, 10, 5]);
  });

  it('reads stepwise sizes and the older Index/Pixel Format layout, and skips output queues', () => {
    const text = [
      'ioctl: VIDIOC_ENUM_FMT',
      '\tType: Video Capture Multiplanar',
      '',
      "\t[0]: 'NV12' (Y/UV 4:2:0)",
      '\t\tSize: Stepwise 32x32 - 1920x2464 with step 8/8',
      '\tType: Video Output',
      "\t[0]: 'RGB3' (24-bit RGB 8-8-8)",
      '\t\tSize: Discrete 640x480',
    ].join('\n');
    expect(parseListFormatsExt(text)).toEqual([{ fourcc: 'NV12', description: 'Y/UV 4:2:0', compressed: false, sizes: [{ width: 1920, height: 2464, min: { width: 32, height: 32 }, step: { width: 8, height: 8 }, fps: [] }] }]);
    const old = "ioctl: VIDIOC_ENUM_FMT\n\tIndex       : 0\n\tType        : Video Capture\n\tPixel Format: 'YUYV'\n\tName        : YUYV 4:2:2\n\t\tSize: Discrete 1280x720\n\t\t\tInterval: Discrete 0.100s (10.000 fps)\n\n\tIndex       : 1\n\tType        : Video Capture\n\tPixel Format: 'MJPG' (compressed)\n\tName        : Motion-JPEG\n\t\tSize: Discrete 1280x720\n\t\t\tInterval: Discrete 0.033s (30.000 fps)\n";
    expect(parseListFormatsExt(old).map((x) => [x.fourcc, x.description, x.compressed, x.sizes[0]!.fps[0]])).toEqual([
      ['YUYV', 'YUYV 4:2:2', false, 10],
      ['MJPG', 'Motion-JPEG', true, 30],
    ]);
  });

  it('lists /dev/video* of a sysroot with sysfs names and suggests a config mode', () => {
    const outputs: Record<string, string> = { '/dev/video0': read('uvc-mjpg-yuyv-1080p.list-formats-ext.txt'), '/dev/video1': 'ioctl: VIDIOC_ENUM_FMT\n\tType: Video Capture\n\n' };
    const devs = listVideoDevices({ root: join(fx, 'sysroot-usb-webcam'), listFormats: (d) => outputs[d] });
    expect(devs.map((d) => [d.device, d.name, d.formats?.length, d.note])).toEqual([
      ['/dev/video0', 'HD Pro Webcam C920', 2, undefined],
      ['/dev/video1', 'HD Pro Webcam C920', 0, 'no capture format (a metadata or output node, not the camera picture)'],
    ]);
    expect(devs[0]!.suggested).toEqual({ pixelFormat: 'mjpeg', width: 640, height: 480, fps: 30 });
    const noTool = listVideoDevices({ root: join(fx, 'sysroot-usb-webcam'), listFormats: () => undefined });
    expect(noTool[0]!.note).toMatch(/install v4l-utils/);
    expect(listVideoDevices({ root: join(fx, 'no-such-root') })).toEqual([]);
  });

  it('checks the configured V4L2 mode against the camera and says what it offers', () => {
    const text = read('uvc-mjpg-yuyv-1080p.list-formats-ext.txt');
    const ok = new V4l2Driver(cfg({ type: 'v4l2', device: '/dev/video0', width: 1280, height: 720, fps: 30 }), () => text);
    expect(ok.preflight()).toEqual([]);
    const bad = new V4l2Driver(cfg({ type: 'v4l2', device: '/dev/video0', pixelFormat: 'yuyv422', width: 1280, height: 720, fps: 30 }), () => text);
    expect(bad.preflight()).toEqual(['/dev/video0 (yuyv422) does not offer 1280x720; it offers 640x480@30, 640x360@30: set source.width/height/fps/pixelFormat to an offered mode (see `edge-agent doctor`)']);
    const fast = new V4l2Driver(cfg({ type: 'v4l2', device: '/dev/video0', width: 1920, height: 1080, fps: 60 }), () => text);
    expect(fast.preflight()[0]).toMatch(/^\/dev\/video0 \(mjpeg\) reaches at most 30 fps at 1920x1080, not 60/);
    expect(suggestMode(parseListFormatsExt(read('uvc-mjpg-720p.list-formats-ext.txt')))).toEqual({ pixelFormat: 'mjpeg', width: 800, height: 600, fps: 30 });
  });

  it('builds the ffmpeg v4l2 command with the configured format, size and rate', () => {
    const d = driverFor(cfg({ type: 'v4l2', device: '/dev/video2', width: 800, height: 600, fps: 30 }));
    const g = computeGeometry(800, 600, 320, 240, 'letterbox');
    const { stages } = d.plan(g, input);
    expect(stages).toHaveLength(1);
    const a = stages[0]!.args;
    // 800x600 MJPEG for a 320x240 model: decoded at half size (400x300), then scaled.
    expect(a.slice(a.indexOf('-f'), a.indexOf('-i') + 2)).toEqual(['-f', 'v4l2', '-input_format', 'mjpeg', '-video_size', '800x600', '-framerate', '30', '-lowres', '1', '-i', '/dev/video2']);
    expect(a[a.indexOf('-vf') + 1]).toBe('scale=320:240:flags=area,format=rgb24');
    const yuyv = driverFor(cfg({ type: 'v4l2', device: '/dev/video2', pixelFormat: 'yuyv422', width: 800, height: 600, fps: 30 })).plan(g, input).stages[0]!.args;
    expect(yuyv).not.toContain('-lowres');
    expect(yuyv).not.toContain('-threads');
    // An H.264 camera decodes without frame threading (low_delay); the decoder's thread budget goes before -i.
    const h264 = driverFor(cfg({ type: 'v4l2', device: '/dev/video2', pixelFormat: 'h264', width: 800, height: 600, fps: 30 })).plan(g, input, { decoderThreads: 2 }).stages[0]!.args;
    expect(h264.slice(h264.indexOf('-framerate') + 2, h264.indexOf('-i'))).toEqual(['-flags', 'low_delay', '-filter_threads', '2', '-threads', '2']);
    // An NCHW model asks for planar frames: gbrp out of ffmpeg, said in the plan.
    const planar = d.plan(g, input, { planar: true });
    expect(planar.format).toBe('gbrp');
    expect(planar.stages[0]!.args[planar.stages[0]!.args.indexOf('-vf') + 1]).toBe('scale=320:240:flags=area,format=gbrp');
    expect(d.plan(g, input).format).toBe('rgb24');
  });

  it('files and streams get the decoder thread budget as an input option', () => {
    const g = computeGeometry(640, 480, 320, 240, 'stretch');
    const file = driverFor(cfg({ type: 'file', path: '/x.mp4' })).plan(g, input, { decoderThreads: 1 }).stages[0]!.args;
    expect(file.slice(file.indexOf('-filter_threads'), file.indexOf('-i') + 1)).toEqual(['-filter_threads', '1', '-threads', '1', '-i']);
    const rtsp = driverFor(cfg({ type: 'rtsp', url: 'rtsp://cam/s' })).plan(g, input, { decoderThreads: 3 }).stages[0]!.args;
    expect(rtsp.slice(rtsp.indexOf('-filter_threads'), rtsp.indexOf('-i') + 1)).toEqual(['-filter_threads', '3', '-threads', '3', '-i']);
    expect(driverFor(cfg({ type: 'file', path: '/x.mp4' })).plan(g, input).stages[0]!.args).not.toContain('-threads');
  });

  it('decodes MJPEG at the smallest 1/2^n size that is still no smaller than the model content', () => {
    const lowres = (sw: number, sh: number, w: number, h: number, resize: 'stretch' | 'letterbox' = 'stretch') => mjpegLowresArgs(computeGeometry(sw, sh, w, h, resize));
    expect(lowres(640, 480, 320, 240)).toEqual(['-lowres', '1']);
    expect(lowres(1280, 720, 320, 240)).toEqual(['-lowres', '1']); // 1/4 would be 320x180, under 240 rows
    expect(lowres(2560, 1920, 320, 240)).toEqual(['-lowres', '3']); // at most 1/8
    expect(lowres(1920, 1080, 416, 416, 'letterbox')).toEqual(['-lowres', '2']); // content 416x234 <= 480x270
    expect(lowres(640, 480, 640, 640, 'letterbox')).toEqual([]);
    expect(lowres(639, 479, 320, 240)).toEqual(['-lowres', '1']); // ffmpeg rounds up: 320x240
    expect(lowres(638, 480, 320, 240)).toEqual([]); // 319 columns at half size: one short
  });
});

describe('Raspberry Pi CSI (recorded rpicam-hello --list-cameras from a Pi 5)', () => {
  const list = read('rpi5-imx708-imx219.list-cameras.txt');

  it('parses cameras, libcamera ids and modes', () => {
    const cams = parseRpicamCameras(list);
    expect(cams.map((c) => [c.index, c.sensor, c.maxWidth, c.maxHeight, c.modes.length])).toEqual([
      [0, 'imx708', 4608, 2592, 3],
      [1, 'imx219', 3280, 2464, 4],
    ]);
    expect(cams[0]!.id).toBe('/base/axi/pcie@1000120000/rp1/i2c@88000/imx708@1a');
    expect(cams[1]!.modes[0]).toEqual({ width: 640, height: 480, maxFps: 206.65, format: 'SRGGB10_CSI2P' });
  });

  it('builds rpicam-vid | ffmpeg with a 64-aligned width, the right colour matrix, and checks the mode', () => {
    const c = cfg({ type: 'libcamera', camera: 1, width: 1000, height: 750, fps: 30, hflip: true });
    expect(rpicamSize(1000, 750)).toEqual({ width: 1024, height: 750 });
    expect(rpicamArgs(c)).toEqual(['--nopreview', '--timeout', '0', '--codec', 'yuv420', '--camera', '1', '--width', '1024', '--height', '750', '--framerate', '30', '--hflip', '--flush', '--output', '-']);
    const d = new RpicamDriver(c, (t) => t === 'rpicam-vid', () => list);
    expect(d.tools()).toEqual(['rpicam-vid', 'ffmpeg']);
    expect(d.preflight()).toEqual([]);
    const g = computeGeometry(1024, 750, 320, 240, 'letterbox');
    const { stages } = d.plan(g, input);
    expect(stages.map((s) => s.cmd)).toEqual(['rpicam-vid', 'ffmpeg']);
    const ff = stages[1]!.args;
    expect(ff.slice(ff.indexOf('-f'), ff.indexOf('pipe:0') + 1)).toEqual(['-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-video_size', '1024x750', '-framerate', '30', '-i', 'pipe:0']);
    // 1024x750 < 1280x720 in width, but height 750 >= 720: rpicam-vid picks Rec.709 (rpicam_app.cpp ConfigureVideo).
    expect(ff[ff.indexOf('-vf') + 1]).toBe(`scale=${g.contentWidth}:${g.contentHeight}:flags=area:in_color_matrix=bt709:in_range=tv,format=rgb24,pad=320:240:${g.padX}:${g.padY}:color=0x727272`);
    // The ffmpeg stage converts with the agent's thread budget.
    const budget = d.plan(g, input, { decoderThreads: 1 }).stages[1]!.args;
    expect(budget.slice(budget.indexOf('-filter_threads'), budget.indexOf('-f'))).toEqual(['-filter_threads', '1', '-threads', '1']);
    const planar = d.plan(g, input, { planar: true });
    expect(planar.format).toBe('gbrp');
    expect(planar.stages[1]!.args[planar.stages[1]!.args.indexOf('-vf') + 1]).toBe(`scale=${g.contentWidth}:${g.contentHeight}:flags=area:in_color_matrix=bt709:in_range=tv,format=gbrp,pad=320:240:${g.padX}:${g.padY}:color=0x727272`);
    // libcamera-vid on Bullseye when rpicam-vid is absent.
    expect(new RpicamDriver(c, (t) => t === 'libcamera-vid').tools()[0]).toBe('libcamera-vid');
  });

  it('warns about a missing camera index or a mode the sensor cannot deliver', () => {
    expect(libcameraWarnings(list, cfg({ type: 'libcamera', camera: 2 }))).toEqual(['libcamera has no camera 2 (found 0: imx708, 1: imx219): check the ribbon cable or source.camera']);
    expect(libcameraWarnings(list, cfg({ type: 'libcamera', camera: 0, width: 4608, height: 2592, fps: 30 }))[0]).toMatch(/^camera 0 \(imx708\) reaches at most 14.35 fps at 4608x2592, not 30/);
    expect(libcameraWarnings('', cfg({ type: 'libcamera' }))[0]).toMatch(/found none/);
  });

  it('libcamerasrc: resolves camera N to its libcamera id and pads RGB rows to GStreamer stride', () => {
    const d = new LibcamerasrcDriver(cfg({ type: 'libcamera', backend: 'gstreamer', camera: 1, width: 1640, height: 1232, fps: 30 }), () => list);
    expect(d.tools()).toEqual(['gst-launch-1.0', 'gst:libcamerasrc']);
    expect(d.preflight()).toEqual([]);
    const g = computeGeometry(1640, 1232, 320, 240, 'letterbox');
    const { stages, layout } = d.plan(g, input);
    expect(stages[0]!.args[0]).toBe('-q');
    expect(stages[0]!.args.join(' ')).toBe(
      `-q libcamerasrc camera-name=/base/axi/pcie@1000120000/rp1/i2c@70000/imx219@10 ! video/x-raw,width=1640,height=1232,framerate=30/1 ! videoconvert ! videoscale add-borders=false ! video/x-raw,format=RGB,width=${g.contentWidth},height=${g.contentHeight},pixel-aspect-ratio=1/1 ! fdsink fd=1 sync=false`,
    );
    expect(g.contentWidth).toBe(319);
    expect(layout).toMatchObject({ width: 320, height: 240, contentWidth: 319, srcStride: 960, padValue: 114 });
  });
});

describe('Jetson CSI (recorded nvarguscamerasrc output from a Jetson Nano with an IMX219)', () => {
  it('builds the nvarguscamerasrc pipeline, scaling in nvvidconv', () => {
    const c = cfg({ type: 'jetson-csi', sensorId: 1, width: 1920, height: 1080, fps: 30, flipMethod: 2 });
    const g = computeGeometry(1920, 1080, 320, 240, 'letterbox');
    expect(jetsonPipeline(c, g, input)).toBe(
      'nvarguscamerasrc sensor-id=1 ! video/x-raw(memory:NVMM),width=1920,height=1080,format=NV12,framerate=30/1 ! nvvidconv flip-method=2 ! video/x-raw,width=320,height=180,format=BGRx ! videoconvert ! video/x-raw,format=RGB ! fdsink fd=1 sync=false',
    );
    expect(new JetsonCsiDriver(c).tools()).toEqual(['gst-launch-1.0', 'gst:nvarguscamerasrc', 'gst:nvvidconv']);
  });

  it('reads the sensor modes Argus prints and explains a mode it does not have', () => {
    const err = read('jetson-nano-imx219.nvarguscamerasrc.stderr.txt');
    expect(parseArgusModes(err)).toEqual([
      { width: 3280, height: 2464, maxFps: 21 },
      { width: 3280, height: 1848, maxFps: 28 },
      { width: 1920, height: 1080, maxFps: 30 },
      { width: 1640, height: 1232, maxFps: 30 },
      { width: 1280, height: 720, maxFps: 60 },
    ]);
    const d = new JetsonCsiDriver(cfg({ type: 'jetson-csi', width: 1920, height: 1080, fps: 60 }));
    const tail = err.split('\n').map((l) => `gst-launch-1.0: ${l}`);
    expect(d.explain(tail)).toBe('sensor 0 reaches at most 30 fps at 1920x1080, not 60; it offers 3280x2464@21, 3280x1848@28, 1920x1080@30, 1640x1232@30, 1280x720@60');
    expect(new JetsonCsiDriver(cfg({ type: 'jetson-csi', width: 1280, height: 720, fps: 60 })).explain(tail)).toBeUndefined();
    // The same modes through V4L2 (raw Bayer, which ffmpeg cannot debayer: Argus is the way on Jetson).
    const v = parseListFormatsExt(read('jetson-nano-imx219.list-formats-ext.txt'));
    expect(v[0]!.fourcc).toBe('RG10');
    expect(suggestMode(v)).toBeUndefined();
    expect(checkMode(v4l2Modes(v, 'mjpeg'), { width: 640, height: 480, fps: 15 }, { exactSize: true, what: 'x' })).toBe('x lists no capture mode');
  });
});

describe('streams, pipelines and failure messages', () => {
  it('RTSP uses the transport and an I/O timeout; HTTP reconnects; passwords are redacted', () => {
    const r = driverFor(cfg({ type: 'rtsp', url: 'rtsp://admin:secret@10.0.0.5:554/stream1', transport: 'udp' }));
    const a = r.plan(computeGeometry(320, 240, 320, 240, 'stretch'), input).stages[0]!.args;
    expect(a.slice(a.indexOf('-rtsp_transport'), a.indexOf('-i') + 2)).toEqual(['-rtsp_transport', 'udp', '-timeout', '5000000', '-i', 'rtsp://admin:secret@10.0.0.5:554/stream1']);
    expect(r.what()).toBe('rtsp://admin:***@10.0.0.5:554/stream1');
    const h = driverFor(cfg({ type: 'rtsp', url: 'http://cam.local/video.ts', timeoutMs: 2000 }));
    const b = h.plan(computeGeometry(320, 240, 320, 240, 'stretch'), input).stages[0]!.args;
    expect(b).toEqual(expect.arrayContaining(['-rw_timeout', '2000000', '-reconnect', '1']));
    expect(redactUrl('ffmpeg -i rtsp://u:p@h/x')).toBe('ffmpeg -i rtsp://u:***@h/x');
  });

  it('ffmpeg pipeline strings are split with quotes honoured; GStreamer ones are passed as one description', () => {
    expect(splitArgs(`-f lavfi -i "testsrc=size=640x480:rate=30" -vf 'hflip'`)).toEqual(['-f', 'lavfi', '-i', 'testsrc=size=640x480:rate=30', '-vf', 'hflip']);
    const gst = driverFor(cfg({ type: 'pipeline', tool: 'gstreamer', pipeline: 'videotestsrc ! video/x-raw,width=640,height=480 !', width: 640, height: 480 }));
    const st = gst.plan(computeGeometry(640, 480, 320, 240, 'stretch'), input).stages[0]!;
    expect(st.cmd).toBe('gst-launch-1.0');
    expect(st.args.join(' ')).toBe('-q videotestsrc ! video/x-raw,width=640,height=480 ! videoconvert ! videoscale add-borders=false ! video/x-raw,format=RGB,width=320,height=240,pixel-aspect-ratio=1/1 ! fdsink fd=1 sync=false');
    // Quoted values stay one argument (gst_parse_launchv escapes spaces inside an argument).
    const q = driverFor(cfg({ type: 'pipeline', tool: 'gstreamer', pipeline: 'videotestsrc ! capsfilter caps="video/x-raw, width=640"', width: 640, height: 480 }));
    expect(q.plan(computeGeometry(640, 480, 320, 240, 'stretch'), input).stages[0]!.args.slice(1, 5)).toEqual(['videotestsrc', '!', 'capsfilter', 'caps=video/x-raw, width=640']);
    // An ffmpeg pipeline gets the thread budget first, so that the user's own options, written later, win.
    const ff = driverFor(cfg({ type: 'pipeline', tool: 'ffmpeg', pipeline: '-f lavfi -threads 3 -i testsrc=size=640x480:rate=30', width: 640, height: 480 }));
    const fa = ff.plan(computeGeometry(640, 480, 320, 240, 'stretch'), input, { decoderThreads: 1 }).stages[0]!.args;
    expect(fa.slice(fa.indexOf('-filter_threads'), fa.indexOf('-i') + 1)).toEqual(['-filter_threads', '1', '-threads', '1', '-f', 'lavfi', '-threads', '3', '-i']);
  });

  it('turns tool output into one actionable sentence', () => {
    expect(explainFailure(['ffmpeg: [video4linux2,v4l2 @ 0x55] Cannot open video device /dev/video9: No such file or directory'])).toMatch(/does not exist/);
    expect(explainFailure(['ffmpeg: [video4linux2,v4l2 @ 0x5] ioctl(VIDIOC_STREAMON): Device or resource busy'])).toMatch(/busy/);
    expect(explainFailure(['ffmpeg: [http @ 0x1] HTTP error 404 Not Found', 'ffmpeg: http://x: Server returned 404 Not Found'])).toBe('the server answered 404 Not Found: check the stream path in the URL');
    expect(explainFailure(['ffmpeg: [rtsp @ 0x1] method DESCRIBE failed: 401 Unauthorized'])).toMatch(/401 Unauthorized: check the user and password/);
    expect(explainFailure(['gst-launch-1.0: WARNING: erroneous pipeline: no element "nosuchsrc"'])).toBe('GStreamer has no element "nosuchsrc": install the plugin that provides it or fix the pipeline');
    expect(explainFailure(['something else'])).toBeUndefined();
  });

  it('the frame reader reuses buffers given back with recycle(), each at most once, and never a placed frame', () => {
    const frames: Buffer[] = [];
    const r = new RawFrameReader(6, (b) => void frames.push(b));
    r.push(Buffer.from([1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2]));
    expect(frames).toHaveLength(2);
    expect(frames[0]).not.toBe(frames[1]);
    r.recycle(frames[0]!);
    r.recycle(frames[0]!); // twice: kept once
    r.recycle(Buffer.alloc(5)); // not one of its frames' size
    r.push(Buffer.from([3, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5]));
    expect(frames).toHaveLength(5);
    // Frame 2 was read into the buffer that was current when frame 1 was handed out; frame 3 gets frame 0's buffer.
    expect(frames[3]).toBe(frames[0]);
    expect([...frames[3]!]).toEqual([4, 4, 4, 4, 4, 4]);
    expect(new Set(frames.slice(2)).size).toBe(3);

    const placed: Buffer[] = [];
    const p = new RawFrameReader({ width: 1, height: 2, channels: 3, contentWidth: 1, contentHeight: 1, padX: 0, padY: 1, srcStride: 3, padValue: 0 }, (b) => void placed.push(b));
    p.push(Buffer.from([7, 7, 7]));
    p.recycle(placed[0]!);
    p.push(Buffer.from([8, 8, 8]));
    expect(placed[1]).not.toBe(placed[0]);
    expect([...placed[0]!]).toEqual([0, 0, 0, 7, 7, 7]);
  });

  it('direct reads (the pipe read into the frame buffers): each read lands in the unfilled part of the current frame, a full consumer stops the reads', () => {
    const frames: Buffer[] = [];
    let full = false;
    const r = new RawFrameReader(6, (b) => {
      frames.push(b);
      return !full;
    });
    const io = r.directReads();
    // A read of 4 bytes, then one of 2: the second is offered only the 2 bytes the frame still lacks.
    const first = io.buffer();
    expect(first.length).toBe(6);
    first.set([1, 1, 1, 1]);
    expect(io.callback(4)).toBe(true);
    expect(r.partial()).toBe(4);
    const rest = io.buffer();
    expect(rest.length).toBe(2);
    expect([rest.buffer, rest.byteOffset]).toEqual([first.buffer, first.byteOffset + 4]); // the same frame buffer, no chunk of its own
    rest.set([1, 1]);
    full = true;
    expect(io.callback(2)).toBe(false); // the consumer is full: the socket stops reading
    expect(frames).toHaveLength(1);
    expect([...frames[0]!]).toEqual([1, 1, 1, 1, 1, 1]);
    // The next frame goes into another buffer, so the frame handed out is never written under its consumer.
    const next = io.buffer();
    expect(r.hasPending()).toBe(false);
    expect(r.resume()).toBe(true);
    full = false;
    next.set([2, 2, 2, 2, 2, 2]);
    expect([...frames[0]!]).toEqual([1, 1, 1, 1, 1, 1]);
    expect(io.callback(6)).toBe(true);
    expect([...frames[1]!]).toEqual([2, 2, 2, 2, 2, 2]);
    // A buffer given back carries a later frame.
    r.recycle(frames[0]!);
    io.buffer().set([3, 3, 3, 3, 3, 3]);
    io.callback(6);
    io.buffer().set([4, 4, 4, 4, 4, 4]);
    io.callback(6);
    expect(frames[3]).toBe(frames[0]);
    expect([...frames[3]!]).toEqual([4, 4, 4, 4, 4, 4]);

    // A layout with a letterbox: the producer's rows are read into the staging buffer and placed into a frame.
    const placed: Buffer[] = [];
    const p = new RawFrameReader({ width: 1, height: 2, channels: 3, contentWidth: 1, contentHeight: 1, padX: 0, padY: 1, srcStride: 3, padValue: 0 }, (b) => void placed.push(b));
    const pio = p.directReads();
    pio.buffer().set([7, 7, 7]);
    pio.callback(3);
    expect([...placed[0]!]).toEqual([0, 0, 0, 7, 7, 7]);
  });

  it('the frame reader drops row padding and places content in a letterbox filled with the pad value', () => {
    // 3x2 content with rows padded to 12 bytes (GStreamer RGB stride), in a 3x4 frame at padY 1.
    const frames: Buffer[] = [];
    const r = new RawFrameReader({ width: 3, height: 4, channels: 3, contentWidth: 3, contentHeight: 2, padX: 0, padY: 1, srcStride: 12, padValue: 114 }, (b) => void frames.push(b));
    const row = (v: number) => [...Array(9).fill(v), 0xee, 0xee, 0xee];
    const bytes = Buffer.from([...row(1), ...row(2), ...row(3), ...row(4)]);
    r.push(bytes.subarray(0, 5));
    r.push(bytes.subarray(5));
    expect(frames).toHaveLength(2);
    expect([...frames[0]!]).toEqual([...Array(9).fill(114), ...Array(9).fill(1), ...Array(9).fill(2), ...Array(9).fill(114)]);
    expect([...frames[1]!.subarray(9, 27)]).toEqual([...Array(9).fill(3), ...Array(9).fill(4)]);
    expect(r.partial()).toBe(0);
  });
});
