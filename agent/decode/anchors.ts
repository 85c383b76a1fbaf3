/**
 * SSD anchor generation as MediaPipe's SsdAnchorsCalculator does it (mediapipe/calculators/tflite/
 * ssd_anchors_calculator.cc, options in ssd_anchors_calculator.proto): layers sharing a stride are merged into
 * one feature map with several anchors per cell; anchor centres at ((x + offsetX) / fmW, (y + offsetY) / fmH).
 * Written from that documented behaviour, not copied.
 */
export interface SsdAnchorOptions {
  inputWidth: number;
  inputHeight: number;
  numLayers: number;
  strides: number[];
  minScale: number;
  maxScale: number;
  anchorOffsetX: number;
  anchorOffsetY: number;
  aspectRatios: number[];
  /** > 0 adds one anchor per layer with this aspect ratio and the geometric mean of this and the next scale. */
  interpolatedScaleAspectRatio: number;
  /** true: every anchor is 1x1 (the regressors carry the whole size, as in BlazeFace and the palm detector). */
  fixedAnchorSize: boolean;
  reduceBoxesInLowestLayer: boolean;
}

/** Anchors as flat [cx, cy, w, h] quadruples, normalised 0..1. */
export function ssdAnchors(o: SsdAnchorOptions): Float64Array {
  const out: number[] = [];
  const n = o.strides.length;
  const scaleAt = (i: number): number => (n === 1 ? (o.minScale + o.maxScale) / 2 : o.minScale + ((o.maxScale - o.minScale) * i) / (n - 1));
  let layer = 0;
  while (layer < o.numLayers) {
    const ratios: number[] = [];
    const scales: number[] = [];
    let last = layer;
    while (last < n && o.strides[last] === o.strides[layer]) {
      const scale = scaleAt(last);
      if (last === 0 && o.reduceBoxesInLowestLayer) {
        // Three boxes in the lowest layer: 1:1 at a small fixed scale, then 2:1 and 1:2 at this scale.
        ratios.push(1, 2, 0.5);
        scales.push(0.1, scale, scale);
      } else {
        for (const r of o.aspectRatios) {
          ratios.push(r);
          scales.push(scale);
        }
        if (o.interpolatedScaleAspectRatio > 0) {
          const next = last === n - 1 ? 1 : scaleAt(last + 1);
          scales.push(Math.sqrt(scale * next));
          ratios.push(o.interpolatedScaleAspectRatio);
        }
      }
      last++;
    }
    const stride = o.strides[layer]!;
    const fmH = Math.ceil(o.inputHeight / stride);
    const fmW = Math.ceil(o.inputWidth / stride);
    for (let y = 0; y < fmH; y++) {
      for (let x = 0; x < fmW; x++) {
        for (let a = 0; a < ratios.length; a++) {
          const r = Math.sqrt(ratios[a]!);
          out.push((x + o.anchorOffsetX) / fmW, (y + o.anchorOffsetY) / fmH, o.fixedAnchorSize ? 1 : scales[a]! * r, o.fixedAnchorSize ? 1 : scales[a]! / r);
        }
      }
    }
    layer = last;
  }
  return Float64Array.from(out);
}
