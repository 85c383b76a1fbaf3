/**
 * Boxes that passed the score threshold, in MODEL INPUT pixels, stored column-wise in growable typed arrays
 * so a decoder allocates nothing per candidate and the buffers are reused frame after frame.
 */
export class Candidates {
  count = 0;
  numKeypoints = 0;
  x1 = new Float64Array(64);
  y1 = new Float64Array(64);
  x2 = new Float64Array(64);
  y2 = new Float64Array(64);
  score = new Float64Array(64);
  cls = new Int32Array(64);
  /** Keypoints as x,y pairs, numKeypoints per candidate. */
  kps = new Float64Array(0);

  /** Empties the list for a new frame; `numKeypoints` sets how many keypoints each candidate carries. */
  reset(numKeypoints = 0): void {
    this.count = 0;
    this.numKeypoints = numKeypoints;
    if (this.kps.length < this.x1.length * numKeypoints * 2) this.kps = new Float64Array(this.x1.length * numKeypoints * 2);
  }

  /** Appends a box (corners, input pixels); returns its index for keypoints. */
  push(x1: number, y1: number, x2: number, y2: number, score: number, cls: number): number {
    if (this.count === this.x1.length) this.grow();
    const i = this.count++;
    this.x1[i] = x1;
    this.y1[i] = y1;
    this.x2[i] = x2;
    this.y2[i] = y2;
    this.score[i] = score;
    this.cls[i] = cls;
    return i;
  }

  setKeypoint(i: number, k: number, x: number, y: number): void {
    const o = (i * this.numKeypoints + k) * 2;
    this.kps[o] = x;
    this.kps[o + 1] = y;
  }

  private grow(): void {
    const n = this.x1.length * 2;
    const g = (a: Float64Array<ArrayBuffer>): Float64Array<ArrayBuffer> => {
      const b = new Float64Array(n);
      b.set(a);
      return b;
    };
    this.x1 = g(this.x1);
    this.y1 = g(this.y1);
    this.x2 = g(this.x2);
    this.y2 = g(this.y2);
    this.score = g(this.score);
    const c = new Int32Array(n);
    c.set(this.cls);
    this.cls = c;
    if (this.numKeypoints) {
      const k = new Float64Array(n * this.numKeypoints * 2);
      k.set(this.kps);
      this.kps = k;
    }
  }
}
