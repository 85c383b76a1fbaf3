import { describe, expect, it } from 'vitest';
import { getDecoder, knownDecoderTypes, prepareDecoder } from '../../agent/decode/registry.js';
import { ssdAnchors } from '../../agent/decode/anchors.js';
import { stretchGeometry } from '../../agent/decode/geometry.js';
import { decoderSchema } from '../../agent/model/manifest-schema.js';
import type { DecodeContext } from '../../agent/decode/types.js';
import type { OutputTensor } from '../../agent/types.js';

const t = (dims: number[], values: number[]): OutputTensor => ({ data: Float32Array.from(values), dims });

function ctx(spec: Record<string, unknown>, labels: string[], w: number, h: number, src: [number, number] = [w, h]): DecodeContext {
  return { spec: decoderSchema.parse(spec), labels, inputWidth: w, inputHeight: h, geometry: stretchGeometry(src[0], src[1], w, h) };
}

function expectBox(actual: number[], expected: number[]): void {
  expect(actual).toHaveLength(4);
  actual.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 6));
}

describe('decoder registry', () => {
  it('knows every family', () => {
    expect(knownDecoderTypes()).toEqual(['anchor-regression', 'gfl', 'prior-boxes', 'ssd-postprocess', 'yolov5', 'yolov8', 'yolox']);
  });
});

describe('prior-boxes', () => {
  it('drops the background column, thresholds and runs NMS', () => {
    const outputs = {
      scores: t([1, 3, 2], [0.1, 0.9, 0.8, 0.2, 0.05, 0.95]),
      boxes: t([1, 3, 4], [0.1, 0.1, 0.5, 0.5, 0.6, 0.6, 0.9, 0.9, 0.12, 0.1, 0.5, 0.52]),
    };
    const dets = getDecoder('prior-boxes')(outputs, ctx({ type: 'prior-boxes', scoreThreshold: 0.7, nms: { iou: 0.3 } }, ['face'], 320, 240, [640, 480]));
    expect(dets).toHaveLength(1);
    expect(dets[0]!.label).toBe('face');
    expect(dets[0]!.score).toBe(Math.fround(0.95));
    expectBox(dets[0]!.box, [0.12, 0.1, 0.5, 0.52]);
  });
});

describe('ssd-postprocess', () => {
  const outputs = {
    b: t([1, 3, 4], [0.1, 0.2, 0.5, 0.6, 0.3, 0.3, 0.4, 0.4, 0, 0, 1, 1]),
    c: t([1, 3], [1, 0, 2]),
    s: t([1, 3], [0.9, 0.5, 0.95]),
    n: t([1], [2]),
  };
  const params = { boxes: 'b', classes: 'c', scores: 's', count: 'n' };
  it('reads yxyx boxes, uses only `count` rows and maps classes to labels', () => {
    const dets = getDecoder('ssd-postprocess')(outputs, ctx({ type: 'ssd-postprocess', params, nms: { method: 'none' } }, ['a', 'b', 'c'], 300, 300));
    expect(dets.map((d) => [d.label, d.score])).toEqual([
      ['b', Math.fround(0.9)],
      ['a', Math.fround(0.5)],
    ]);
    expectBox(dets[0]!.box, [0.2, 0.1, 0.6, 0.5]);
  });
  it('applies labelOffset and drops classes outside the labels', () => {
    const dets = getDecoder('ssd-postprocess')(outputs, ctx({ type: 'ssd-postprocess', params: { ...params, labelOffset: -1 }, nms: { method: 'none' } }, ['a'], 300, 300));
    expect(dets.map((d) => d.label)).toEqual(['a']);
    expect(dets[0]!.score).toBe(Math.fround(0.9));
  });
});

describe('SSD anchors (MediaPipe)', () => {
  const base = { minScale: 0.1484375, maxScale: 0.75, anchorOffsetX: 0.5, anchorOffsetY: 0.5, aspectRatios: [1], fixedAnchorSize: true, reduceBoxesInLowestLayer: false };
  it('BlazeFace short range: 16x16x2 + 8x8x6 = 896', () => {
    const a = ssdAnchors({ ...base, inputWidth: 128, inputHeight: 128, numLayers: 4, strides: [8, 16, 16, 16], interpolatedScaleAspectRatio: 1 });
    expect(a.length / 4).toBe(896);
    expect([...a.subarray(0, 8)]).toEqual([0.5 / 16, 0.5 / 16, 1, 1, 0.5 / 16, 0.5 / 16, 1, 1]);
    expect([...a.subarray(512 * 4, 512 * 4 + 4)]).toEqual([0.5 / 8, 0.5 / 8, 1, 1]);
    expect([...a.subarray(895 * 4)]).toEqual([7.5 / 8, 7.5 / 8, 1, 1]);
  });
  it('BlazeFace full range: 48x48 = 2304; palm: 24x24x2 + 12x12x6 = 2016', () => {
    expect(ssdAnchors({ ...base, inputWidth: 192, inputHeight: 192, numLayers: 1, strides: [4], interpolatedScaleAspectRatio: 0 }).length / 4).toBe(2304);
    expect(ssdAnchors({ ...base, inputWidth: 192, inputHeight: 192, numLayers: 4, strides: [8, 16, 16, 16], interpolatedScaleAspectRatio: 1 }).length / 4).toBe(2016);
  });
  it('sizes anchors by scale and aspect ratio when not fixed', () => {
    const a = ssdAnchors({ ...base, fixedAnchorSize: false, minScale: 0.2, maxScale: 0.6, aspectRatios: [4], inputWidth: 8, inputHeight: 8, numLayers: 1, strides: [8], interpolatedScaleAspectRatio: 0 });
    // One layer: scale (0.2+0.6)/2 = 0.4; ratio 4 -> w = 0.4*2, h = 0.4/2.
    expect([...a]).toEqual([0.5, 0.5, 0.8, 0.2]);
  });
});

describe('anchor-regression', () => {
  // 16x16 input, one stride-8 layer, no interpolated anchor: 4 anchors at (0.25|0.75, 0.25|0.75).
  const params = {
    regressors: 'r',
    scores: 'c',
    anchors: { numLayers: 1, strides: [8], interpolatedScaleAspectRatio: 0 },
    numKeypoints: 1,
  };
  it('decodes box and keypoints against the anchor and applies the clipped sigmoid', () => {
    const r = new Array(4 * 6).fill(0);
    r.splice(0, 6, 1.6, -1.6, 8, 4, 3.2, 0); // anchor 0 (0.25, 0.25)
    const outputs = { r: t([1, 4, 6], r), c: t([1, 4, 1], [2, -3, 1000, -1000]) };
    const dets = getDecoder('anchor-regression')(outputs, ctx({ type: 'anchor-regression', params, scoreThreshold: 0.5, nms: { method: 'weighted', iou: 0.3 } }, ['face'], 16, 16));
    expect(dets).toHaveLength(2);
    // anchor 2 (0.25, 0.75): all-zero regressors -> zero-size box at the anchor; logit clipped to 100.
    expect(dets[0]!.score).toBe(1 / (1 + Math.exp(-100)));
    expect(dets[1]!.score).toBeCloseTo(1 / (1 + Math.exp(-2)), 12);
    expectBox(dets[1]!.box, [0.35 - 0.25, 0.15 - 0.125, 0.35 + 0.25, 0.15 + 0.125]);
    expect(dets[1]!.keypoints![0]![0]).toBeCloseTo(0.45, 6);
    expect(dets[1]!.keypoints![0]![1]).toBeCloseTo(0.25, 6);
  });
  it('reports a score tensor that does not match the generated anchors', () => {
    const outputs = { r: t([1, 5, 6], new Array(30).fill(0)), c: t([1, 5, 1], new Array(5).fill(0)) };
    expect(() => getDecoder('anchor-regression')(outputs, ctx({ type: 'anchor-regression', params }, ['face'], 16, 16))).toThrow(/output c has shape \[1,5,1\], expected \[1, 4, 1\] \(4 anchors/);
  });
  it('validates the anchor params', () => {
    expect(() => prepareDecoder(decoderSchema.parse({ type: 'anchor-regression', params: { ...params, anchors: { numLayers: 2, strides: [8] } } }), ['face'])).toThrow(
      /decoder\.params\.anchors\.strides: strides must have numLayers entries/,
    );
  });
});

describe('gfl', () => {
  it('takes the softmax expectation of the distance bins around the NanoDet cell centre', () => {
    // 16x16 input, stride 8 -> 2x2 cells; 2 bins per side; only cell (x=1, y=0) scores.
    const dist = new Array(4 * 8).fill(0);
    for (let side = 0; side < 4; side++) dist[1 * 8 + side * 2 + 1] = Math.log(3); // softmax [0.25, 0.75] -> 0.75 -> 6 px
    const outputs = { s8: t([1, 4, 1], [0.1, 0.7, 0.2, 0.3]), d8: t([1, 4, 8], dist) };
    const spec = { type: 'gfl', params: { heads: [{ scores: 's8', distances: 'd8', stride: 8 }], bins: 2, gridOffset: 0.5, gridOffsetPx: -0.5 }, scoreThreshold: 0.35 };
    const dets = getDecoder('gfl')(outputs, ctx(spec, ['thing'], 16, 16));
    expect(dets).toHaveLength(1);
    expect(dets[0]!.score).toBe(Math.fround(0.7));
    // centre (11.5, 3.5); box [5.5, -2.5, 17.5, 9.5] clamped to the 16x16 input
    expectBox(dets[0]!.box, [5.5 / 16, 0, 1, 9.5 / 16]);
  });
  it('decodes a concatenated [1,N,C+4*bins] output identically', () => {
    const rows: number[] = [];
    const scores = [0.1, 0.7, 0.2, 0.3];
    for (let cell = 0; cell < 4; cell++) {
      rows.push(scores[cell]!);
      for (let side = 0; side < 4; side++) rows.push(0, cell === 1 ? Math.log(3) : 0);
    }
    const spec = { type: 'gfl', params: { output: 'o', strides: [8], bins: 2, gridOffset: 0.5, gridOffsetPx: -0.5 }, scoreThreshold: 0.35 };
    const [d] = getDecoder('gfl')({ o: t([1, 4, 9], rows) }, ctx(spec, ['thing'], 16, 16));
    expectBox(d!.box, [5.5 / 16, 0, 1, 9.5 / 16]);
  });
});

describe('yolox', () => {
  it('decodes grid offsets and log sizes per stride; score = objectness x class', () => {
    const rows = new Array(4 * 6).fill(0);
    rows.splice(3 * 6, 6, 0.5, 0.25, Math.log(2), 0, 0.9, 0.5); // cell (1,1)
    const [d, ...rest] = getDecoder('yolox')({ o: t([1, 4, 6], rows) }, ctx({ type: 'yolox', params: { strides: [8] } }, ['dog'], 16, 16));
    expect(rest).toEqual([]);
    expect(d!.score).toBeCloseTo(0.45, 6);
    // centre (12, 10), size 16x8 -> [4, 6, 20, 14], clamped
    expectBox(d!.box, [0.25, 0.375, 1, 0.875]);
  });
});

describe('yolov5', () => {
  it('decoded [1,N,5+C]: score = objectness x best class', () => {
    const o = t([1, 2, 7], [8, 8, 4, 4, 0.5, 0.2, 0.8, 4, 4, 2, 2, 0.1, 0.9, 0.9]);
    const dets = getDecoder('yolov5')({ o }, ctx({ type: 'yolov5' }, ['a', 'b'], 16, 16));
    expect(dets.map((d) => d.label)).toEqual(['b']);
    expect(dets[0]!.score).toBeCloseTo(0.4, 6);
    expectBox(dets[0]!.box, [6 / 16, 6 / 16, 10 / 16, 10 / 16]);
  });
  it('raw heads: sigmoid, 2x offset and squared anchor scaling, in both layouts', () => {
    // stride 8 on 16x16 -> 2x2 cells, one anchor 10x20; cell (0,0) has all-zero logits, others -10.
    const V = 6;
    const nahwc = new Array(4 * V).fill(-10);
    for (let v = 0; v < V; v++) nahwc[v] = 0;
    const nchw = new Array(4 * V).fill(-10);
    for (let v = 0; v < V; v++) nchw[v * 4] = 0;
    const head = { output: 'h', stride: 8, anchors: [[10, 20]] };
    const spec = (layout: string) => ({ type: 'yolov5', params: { mode: 'raw', heads: [head], layout }, scoreThreshold: 0.2 });
    const a = getDecoder('yolov5')({ h: t([1, 1, 2, 2, V], nahwc) }, ctx(spec('NAHWC'), ['x'], 16, 16));
    const b = getDecoder('yolov5')({ h: t([1, V, 2, 2], nchw) }, ctx(spec('NCHW'), ['x'], 16, 16));
    expect(a).toHaveLength(1);
    expect(a[0]!.score).toBe(0.25);
    // centre (4, 4), size 10x20 -> [-1, -6, 9, 14]
    expectBox(a[0]!.box, [0, 0, 9 / 16, 14 / 16]);
    expect(b).toEqual(a);
  });
  it('raw mode without heads names the field', () => {
    expect(() => prepareDecoder(decoderSchema.parse({ type: 'yolov5', params: { mode: 'raw' } }), ['x'])).toThrow(/decoder\.params\.heads: raw mode needs heads/);
  });
});
