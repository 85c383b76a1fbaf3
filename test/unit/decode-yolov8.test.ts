import { describe, expect, it } from 'vitest';
import { getDecoder, prepareDecoder } from '../../agent/decode/registry.js';
import { stretchGeometry } from '../../agent/decode/geometry.js';
import { decoderSchema } from '../../agent/model/manifest-schema.js';
import type { DecodeContext } from '../../agent/decode/types.js';
import type { Geometry, OutputTensor } from '../../agent/types.js';
import { AgentError } from '../../agent/errors.js';

// Four boxes, two classes (a, b). Box 2 overlaps box 0 (same class) and is suppressed; box 3 is below threshold.
const boxes = [
  { cx: 160, cy: 160, w: 100, h: 50, s: [0.9, 0.1] },
  { cx: 165, cy: 160, w: 100, h: 50, s: [0.2, 0.8] },
  { cx: 162, cy: 160, w: 100, h: 50, s: [0.85, 0.05] },
  { cx: 40, cy: 40, w: 20, h: 20, s: [0.1, 0.2] },
];

function channelsFirst(): OutputTensor {
  const N = boxes.length;
  const data = new Float32Array(6 * N);
  boxes.forEach((b, n) => {
    [b.cx, b.cy, b.w, b.h, ...b.s].forEach((v, r) => (data[r * N + n] = v));
  });
  return { data, dims: [1, 6, N] };
}

function rowsFirst(): OutputTensor {
  return { data: Float32Array.from(boxes.flatMap((b) => [b.cx, b.cy, b.w, b.h, ...b.s])), dims: [1, boxes.length, 6] };
}

function ctx(over: Record<string, unknown> = {}, geometry: Geometry = stretchGeometry(640, 640, 320, 320)): DecodeContext {
  return { spec: decoderSchema.parse({ type: 'yolov8', ...over }), labels: ['a', 'b'], inputWidth: 320, inputHeight: 320, geometry };
}

const f32 = (v: number): number => Math.fround(v);

describe('yolov8 decoder', () => {
  it('decodes [1,4+C,N], keeps the best class, applies class-aware NMS and maps to the source', () => {
    const dets = getDecoder('yolov8')({ output0: channelsFirst() }, ctx());
    expect(dets).toEqual([
      { classId: 0, label: 'a', score: f32(0.9), box: [110 / 320, 135 / 320, 210 / 320, 185 / 320] },
      { classId: 1, label: 'b', score: f32(0.8), box: [115 / 320, 135 / 320, 215 / 320, 185 / 320] },
    ]);
  });

  it('decodes the transposed [1,N,4+C] layout identically', () => {
    const a = getDecoder('yolov8')({ output0: channelsFirst() }, ctx());
    const b = getDecoder('yolov8')({ output0: rowsFirst() }, ctx({ params: { transposed: true } }));
    expect(b).toEqual(a);
  });

  it('class-agnostic NMS drops the overlapping box of the other class', () => {
    const dets = getDecoder('yolov8')({ o: channelsFirst() }, ctx({ nms: { classAgnostic: true } }));
    expect(dets.map((d) => d.label)).toEqual(['a']);
  });

  it('applies per-class thresholds by label', () => {
    const dets = getDecoder('yolov8')({ o: channelsFirst() }, ctx({ classThresholds: { b: 0.81 } }));
    expect(dets.map((d) => d.label)).toEqual(['a']);
    const low = getDecoder('yolov8')({ o: channelsFirst() }, ctx({ scoreThreshold: 0.15, classThresholds: { a: 0.95 } }));
    expect(low.map((d) => [d.label, d.score])).toEqual([['b', f32(0.8)], ['b', f32(0.2)]]);
  });

  it('undoes a centred letterbox', () => {
    // Source 640x320 letterboxed into 320x320: content 320x160 at padY 80. Box 0 spans y 135..185 in the input.
    const g: Geometry = { srcWidth: 640, srcHeight: 320, width: 320, height: 320, padX: 0, padY: 80, contentWidth: 320, contentHeight: 160 };
    const [d] = getDecoder('yolov8')({ o: channelsFirst() }, ctx({}, g));
    expect(d!.box).toEqual([110 / 320, (135 - 80) / 160, 210 / 320, (185 - 80) / 160]);
  });

  it('clamps boxes that leave the picture', () => {
    const t: OutputTensor = { data: Float32Array.from([5, 315, 20, 20, 0.9]), dims: [1, 5, 1] };
    const [d] = getDecoder('yolov8')({ o: t }, { ...ctx(), labels: ['x'] });
    expect(d!.box).toEqual([0, 305 / 320, 15 / 320, 1]);
  });

  it('reads normalised coordinates when params.normalized is set', () => {
    const t: OutputTensor = { data: Float32Array.from([0.5, 0.5, 0.25, 0.5, 0.9]), dims: [1, 5, 1] };
    const [d] = getDecoder('yolov8')({ o: t }, { ...ctx({ params: { normalized: true } }), labels: ['x'] });
    expect(d!.box).toEqual([0.375, 0.25, 0.625, 0.75]);
  });

  it('reports a shape that does not match the labels', () => {
    expect(() => getDecoder('yolov8')({ o: channelsFirst() }, { ...ctx(), labels: ['a', 'b', 'c'] })).toThrow(/output output has shape \[1,6,4\], expected \[1, 7, N\]/);
  });

  it('names a missing output and the ones the model has', () => {
    expect(() => getDecoder('yolov8')({ a: channelsFirst(), b: channelsFirst() }, ctx({ params: { output: 'nope' } }))).toThrow(/no output "nope".*it has a, b/);
    expect(() => getDecoder('yolov8')({ a: channelsFirst(), b: channelsFirst() }, ctx())).toThrow(/decoder.params.output is not set/);
  });

  it('rejects bad params naming the manifest field', () => {
    try {
      prepareDecoder(decoderSchema.parse({ type: 'yolov8', params: { transposed: 'yes' } }), ['a']);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(AgentError);
      expect((err as AgentError).code).toBe('MANIFEST_INVALID');
      expect((err as AgentError).message).toMatch(/^yolov8 decoder: decoder\.params\.transposed: /);
    }
    expect(() => prepareDecoder(decoderSchema.parse({ type: 'yolov8', params: { tranposed: true } }), ['a'])).toThrow(/decoder\.params\.tranposed: unknown key/);
    expect(() => prepareDecoder(decoderSchema.parse({ type: 'yolov8', classThresholds: { cat: 0.5 } }), ['a'])).toThrow(/decoder\.classThresholds\.cat: "cat" is not one of/);
  });

  it('rejects an unknown type listing the known ones', () => {
    expect(() => getDecoder('yolov99')).toThrow(/decoder.type "yolov99" is not a known decoder/);
    try {
      getDecoder('yolov99');
    } catch (err) {
      expect((err as AgentError).fix).toMatch(/yolov8/);
    }
  });
});
