import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageDetector, type PixelDetection } from '../../agent/app/image-detector.js';
import { loadManifest } from '../../agent/model/manifest.js';

/**
 * The detections listed in ../shared/models/README.md, checked on the real models through the same path the
 * agent uses (ffmpeg scale/letterbox, TensorPacker, ONNX Runtime or TFLite, the manifest's decoder).
 * Tolerances: boxes within 3 px where the README gives boxes; scores within 0.01 for UltraFace, whose
 * softmax saturates, and up to 0.06 elsewhere: the README's figures come from another resize
 * implementation, and these small detectors move by a few hundredths when the input pixels do.
 */
const repo = resolve(__dirname, '..', '..');
const shared = resolve(repo, '..', 'shared', 'models');
const images = resolve(shared, 'test-images');
const manifests = resolve(repo, 'test', 'fixtures', 'models');
const haveShared = existsSync(shared);
const title = (s: string): string => `${s}${haveShared ? '' : ' (skipped: ../shared absent)'}`;

function expectBox(d: PixelDetection, box: [number, number, number, number], tol = 3): void {
  d.boxPx.forEach((v, i) => expect(Math.abs(v - box[i]!), `box ${d.boxPx.map(Math.round)} vs ${box}`).toBeLessThanOrEqual(tol));
}

function useDetector(manifest: string, variant?: string): () => ImageDetector {
  let det: ImageDetector | undefined;
  beforeAll(async () => {
    // The fixture manifests name files in ../shared/models: allowed explicitly as a model root.
    det = await ImageDetector.open({ manifest: loadManifest(resolve(manifests, manifest), { allowedRoots: [shared] }), variant });
  });
  afterAll(async () => {
    await det?.close();
  });
  return () => det!;
}

async function detect(det: ImageDetector, image: string): Promise<PixelDetection[]> {
  return (await det.detectFile(resolve(images, image))).detections;
}

describe.skipIf(!haveShared)(title('UltraFace RFB-320 (ONNX Runtime)'), () => {
  const det = useDetector('ultraface', 'rfb-320');
  it('runs on the CPU provider', () => {
    expect(det().accelerator()).toBe('cpu');
  });
  it('face.jpg: 4 faces with the README boxes', async () => {
    const d = await detect(det(), 'face.jpg');
    expect(d.map((x) => x.label)).toEqual(['face', 'face', 'face', 'face']);
    const expected: Array<[number, [number, number, number, number]]> = [
      [1.0, [133, 81, 222, 204]],
      [1.0, [260, 47, 347, 168]],
      [1.0, [439, 118, 489, 185]],
      [0.995, [7, 100, 50, 160]],
    ];
    for (const [score, box] of expected) {
      const match = d.find((x) => Math.abs(x.boxPx[0] - box[0]) <= 3 && Math.abs(x.boxPx[1] - box[1]) <= 3);
      expect(match, `face at ${box}`).toBeDefined();
      expectBox(match!, box);
      expect(match!.score).toBeCloseTo(score, 2);
    }
  });
  it('grace_hopper.bmp: 1 face', async () => {
    const d = await detect(det(), 'grace_hopper.bmp');
    expect(d).toHaveLength(1);
    expectBox(d[0]!, [172, 121, 357, 334]);
    expect(d[0]!.score).toBeCloseTo(1, 2);
  });
  it('ultraface_2.jpg: 4 faces at 0.998-0.999', async () => {
    const d = await detect(det(), 'ultraface_2.jpg');
    expect(d).toHaveLength(4);
    for (const x of d) expect(x.score).toBeGreaterThan(0.99);
  });
});

describe.skipIf(!haveShared)(title('UltraFace slim-320 and RFB-640 (ONNX Runtime)'), () => {
  const slim = useDetector('ultraface', 'slim-320');
  const big = useDetector('ultraface', 'rfb-640');
  it('find the same 4 faces in face.jpg', async () => {
    for (const det of [slim(), big()]) {
      const d = await detect(det, 'face.jpg');
      expect(d).toHaveLength(4);
      const lefts = d.map((x) => x.boxPx[0]).sort((a, b) => a - b);
      [7, 133, 260, 439].forEach((x, i) => expect(Math.abs(lefts[i]! - x)).toBeLessThanOrEqual(6));
    }
  });
});

describe.skipIf(!haveShared)(title('BlazeFace short range (TFLite)'), () => {
  const det = useDetector('blazeface-short');
  it('grace_hopper.bmp: 1 face 0.931 with 6 keypoints', async () => {
    const d = await detect(det(), 'grace_hopper.bmp');
    expect(d).toHaveLength(1);
    expectBox(d[0]!, [166, 141, 366, 342]);
    expect(Math.abs(d[0]!.score - 0.931)).toBeLessThanOrEqual(0.03);
    expect(d[0]!.keypoints).toHaveLength(6);
    // Right eye (subject's right = image left) is left of the left eye, both above the mouth.
    const [re, le, , mouth] = d[0]!.keypoints!;
    expect(re![0]).toBeLessThan(le![0]);
    expect(mouth![1]).toBeGreaterThan(re![1]);
  });
  it('face.jpg: the 2 large faces', async () => {
    expect(await detect(det(), 'face.jpg')).toHaveLength(2);
  });
  it('ultraface_2.jpg: 4 faces', async () => {
    expect(await detect(det(), 'ultraface_2.jpg')).toHaveLength(4);
  });
});

describe.skipIf(!haveShared)(title('BlazeFace full range (TFLite)'), () => {
  const det = useDetector('blazeface-full');
  it('face.jpg: 4 faces; ultraface_2.jpg: 4 faces', async () => {
    expect(await detect(det(), 'face.jpg')).toHaveLength(4);
    expect(await detect(det(), 'ultraface_2.jpg')).toHaveLength(4);
  });
  it('grace_hopper.bmp: 1 face (0.751)', async () => {
    const d = await detect(det(), 'grace_hopper.bmp');
    expect(d).toHaveLength(1);
    expect(Math.abs(d[0]!.score - 0.751)).toBeLessThanOrEqual(0.06);
  });
});

describe.skipIf(!haveShared)(title('NanoDet-m (ONNX Runtime)'), () => {
  const det = useDetector('nanodet-m');
  const check = (d: PixelDetection[], want: Array<[string, number]>): void => {
    expect(d.map((x) => x.label)).toEqual(want.map((w) => w[0]));
    want.forEach(([, s], i) => expect(Math.abs(d[i]!.score - s), `${want[i]![0]} score ${d[i]!.score}`).toBeLessThanOrEqual(0.04));
  };
  it('yolox_dog.jpg: bicycle 0.627, car 0.482, dog 0.450', async () => {
    const d = await detect(det(), 'yolox_dog.jpg');
    check(d, [['bicycle', 0.627], ['car', 0.482], ['dog', 0.45]]);
    // The dog is in the lower left, the car top right.
    expect(d[2]!.boxPx[0]).toBeLessThan(200);
    expect(d[1]!.boxPx[0]).toBeGreaterThan(400);
  });
  it('grace_hopper.bmp: person 0.857, tie 0.500', async () => {
    check(await detect(det(), 'grace_hopper.bmp'), [['person', 0.857], ['tie', 0.5]]);
  });
  it('pets.jpg: 2 dogs (0.678, 0.602)', async () => {
    check(await detect(det(), 'pets.jpg'), [['dog', 0.678], ['dog', 0.602]]);
  });
});

describe.skipIf(!haveShared)(title('Coral traffic LSTM-SSD, uint8 (TFLite), state fed back over 3 frames'), () => {
  const det = useDetector('coral-traffic-lstm');
  it('finds the pickup truck as pickup_suv_van (0.41-0.48) in each frame', async () => {
    for (const frame of ['coral_traffic_0001.bmp', 'coral_traffic_0002.bmp', 'coral_traffic_0003.bmp']) {
      const d = await detect(det(), frame);
      expect(d[0]!.label, frame).toBe('pickup_suv_van');
      expect(d[0]!.score).toBeGreaterThanOrEqual(0.39);
      expect(d[0]!.score).toBeLessThanOrEqual(0.5);
      // The truck enters at the right edge of the 256x256 frame.
      expect(d[0]!.boxPx[2]).toBeGreaterThan(240);
      for (const x of d) expect(x.score).toBeGreaterThanOrEqual(0.3);
    }
  });
});

describe.skipIf(!haveShared)(title('MediaPipe palm lite (TFLite)'), () => {
  const det = useDetector('palm-lite');
  it('ultraface_2.jpg: one palm (0.72)', async () => {
    const d = await detect(det(), 'ultraface_2.jpg');
    expect(d).toHaveLength(1);
    expect(d[0]!.label).toBe('palm');
    expect(Math.abs(d[0]!.score - 0.72)).toBeLessThanOrEqual(0.05);
    expect(d[0]!.keypoints).toHaveLength(7);
  });
});
