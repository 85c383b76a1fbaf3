import { z } from 'zod';

/** Restart policy for cameras and streams that drop: exponential backoff with jitter. */
export const restartSchema = z
  .object({
    minMs: z.number().int().positive().default(500),
    maxMs: z.number().int().positive().default(30_000),
    /** Restart a source that delivered no frame for this long. */
    stallMs: z.number().int().positive().default(5_000),
    /** A (re)started source has this long for its first frame (stream probing and camera start-up take seconds). */
    startMs: z.number().int().positive().optional(),
  })
  .strict()
  .default({ minMs: 500, maxMs: 30_000, stallMs: 5_000 });

const common = {
  restart: restartSchema,
};

export const fileSourceSchema = z
  .object({
    type: z.literal('file'),
    path: z.string().min(1),
    /** realtime: paced at the video's frame rate like a camera; fast: as fast as the pipeline takes frames. */
    pace: z.enum(['realtime', 'fast']).default('realtime'),
    loop: z.boolean().default(true),
    ...common,
  })
  .strict();

export const v4l2SourceSchema = z
  .object({
    type: z.literal('v4l2'),
    device: z.string().regex(/^\/dev\/video\d+$|^\/dev\/v4l\//, 'a device such as /dev/video0 or /dev/v4l/by-id/...'),
    width: z.number().int().positive().default(640),
    height: z.number().int().positive().default(480),
    fps: z.number().positive().default(15),
    /** V4L2 pixel format to ask for: mjpeg or yuyv422 (raw). */
    pixelFormat: z.enum(['mjpeg', 'yuyv422', 'h264']).default('mjpeg'),
    ...common,
  })
  .strict();

export const rtspSourceSchema = z
  .object({
    type: z.literal('rtsp'),
    url: z.string().regex(/^(rtsps?|https?):\/\//, 'an rtsp://, rtsps://, http:// or https:// URL'),
    transport: z.enum(['tcp', 'udp']).default('tcp'),
    /** Socket I/O timeout (default 5000 ms): a server that stops sending for this long counts as gone (and is reconnected). */
    timeoutMs: z.number().int().positive().optional(),
    /** The stream's picture size, when known: saves probing it for a letterbox (and works while the camera is down). */
    width: z.number().int().positive().optional(),
    height: z.number().int().positive().optional(),
    ...common,
  })
  .strict();

export const libcameraSourceSchema = z
  .object({
    type: z.literal('libcamera'),
    /** rpicam: `rpicam-vid --codec yuv420` piped to ffmpeg (libcamera-vid on older releases); gstreamer: libcamerasrc. */
    backend: z.enum(['rpicam', 'gstreamer']).default('rpicam'),
    camera: z.number().int().nonnegative().default(0),
    /** libcamerasrc only: the libcamera camera id (from `rpicam-hello --list-cameras`); default: the first camera. */
    cameraName: z.string().min(1).optional(),
    width: z.number().int().positive().default(640),
    height: z.number().int().positive().default(480),
    fps: z.number().positive().default(15),
    hflip: z.boolean().default(false),
    vflip: z.boolean().default(false),
    ...common,
  })
  .strict();

export const jetsonCsiSourceSchema = z
  .object({
    type: z.literal('jetson-csi'),
    sensorId: z.number().int().nonnegative().default(0),
    width: z.number().int().positive().default(1280),
    height: z.number().int().positive().default(720),
    fps: z.number().positive().default(30),
    /** nvvidconv flip-method: 0 none, 1 counter-clockwise 90, 2 rotate 180, 3 clockwise 90, 4 horizontal, 5 upper-right diagonal, 6 vertical, 7 upper-left diagonal. */
    flipMethod: z.number().int().min(0).max(7).default(0),
    ...common,
  })
  .strict();

export const imagesSourceSchema = z
  .object({
    type: z.literal('images'),
    dir: z.string().min(1),
    fps: z.number().positive().default(1),
    loop: z.boolean().default(false),
    ...common,
  })
  .strict();

export const pipelineSourceSchema = z
  .object({
    type: z.literal('pipeline'),
    /** ffmpeg: arguments before the output options; gstreamer: a gst-launch-1.0 pipeline ending before the sink. */
    tool: z.enum(['ffmpeg', 'gstreamer']),
    pipeline: z.string().min(1),
    width: z.number().int().positive(),
    height: z.number().int().positive(),
    fps: z.number().positive().optional(),
    ...common,
  })
  .strict();

export const sourceSchema = z.discriminatedUnion('type', [
  fileSourceSchema,
  v4l2SourceSchema,
  rtspSourceSchema,
  libcameraSourceSchema,
  jetsonCsiSourceSchema,
  imagesSourceSchema,
  pipelineSourceSchema,
]);

export type SourceConfig = z.infer<typeof sourceSchema>;
