"""Demo scenes as training data: frames decoded exactly as the agent decodes them, boxes, and targets."""
import json
import math
import os
import subprocess

import numpy as np

from model import IN_H, IN_W, STRIDE

# The agent's own decode: ffmpeg scales to the model input with area filtering and hands over raw RGB. The agent takes
# gbrp planes for an NCHW model, which swscale writes with full chroma interpolation and accurate rounding: the same
# pixels as these flags give in rgb24. (The shipped models were trained on plain rgb24, up to 21 levels off at colour
# edges; the demo still rejects exactly the defective parts on the new decode, test/integration/run-demo.test.ts.)
FFMPEG_DECODE = ["ffmpeg", "-v", "error", "-i", None, "-vf", f"scale={IN_W}:{IN_H}:flags=area+accurate_rnd+full_chroma_int,format=rgb24", "-f", "rawvideo", "-"]
SCALE = 0.5  # scene pixels (640x480) -> input pixels (320x240)


def scene_dir(data, seed):
    return os.path.join(data, f"seed-{seed}")


def load_frames(sdir):
    """uint8 [T,240,320,3], cached next to the clip as frames320-accurate.npy (memory-mapped)."""
    cache = os.path.join(sdir, "frames320-accurate.npy")
    if not os.path.exists(cache):
        cmd = list(FFMPEG_DECODE)
        cmd[4] = os.path.join(sdir, "conveyor.mp4")
        raw = subprocess.run(cmd, check=True, stdout=subprocess.PIPE).stdout
        frames = np.frombuffer(raw, dtype=np.uint8).reshape(-1, IN_H, IN_W, 3)
        tmp = f"{cache}.{os.getpid()}.tmp.npy"
        np.save(tmp, frames)
        os.replace(tmp, cache)
    return np.load(cache, mmap_mode="r")


def load_boxes(sdir):
    """Per frame: list of (x1, y1, x2, y2, defect, full) in input pixels."""
    out = []
    with open(os.path.join(sdir, "boxes.jsonl")) as f:
        for line in f:
            rec = json.loads(line)
            out.append([(b["x1"] * SCALE, b["y1"] * SCALE, b["x2"] * SCALE, b["y2"] * SCALE, bool(b["defect"]), bool(b["full"])) for b in rec["boxes"]])
    return out


def load_truth(sdir):
    with open(os.path.join(sdir, "truth.json")) as f:
        return json.load(f)


SIGMA = 0.8  # cells: spread of the centre heat-map bump


def build_targets(boxes, h, w):
    """Targets for a picture of h x w input pixels whose boxes are given in its own coordinates.

    heat [2,gh,gw]: 1 at the cell holding a fully visible part's centre (channel 0 good part, 1 defect),
    a Gaussian bump around it (down-weights near misses in the focal loss); mask [gh,gw]: 0 over parts that are
    only partly visible (neither rewarded nor penalised); box [4,gh,gw] x1,y1,x2,y2 and box weight [gh,gw].
    """
    gh, gw = h // STRIDE, w // STRIDE
    heat = np.zeros((2, gh, gw), np.float32)
    mask = np.ones((gh, gw), np.float32)
    box = np.zeros((4, gh, gw), np.float32)
    bw = np.zeros((gh, gw), np.float32)
    cyg, cxg = np.meshgrid(np.arange(gh, dtype=np.float32), np.arange(gw, dtype=np.float32), indexing="ij")
    ccx = (cxg + 0.5) * STRIDE  # cell centres, pixels
    ccy = (cyg + 0.5) * STRIDE
    for (x1, y1, x2, y2, defect, full) in boxes:
        if not full:
            inside = (ccx >= x1 - 4) & (ccx <= x2 + 4) & (ccy >= y1 - 4) & (ccy <= y2 + 4)
            mask[inside] = 0
            continue
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        g = np.exp(-(((ccx - cx) / STRIDE) ** 2 + ((ccy - cy) / STRIDE) ** 2) / (2 * SIGMA * SIGMA))
        ix = min(gw - 1, max(0, int(cx // STRIDE)))
        iy = min(gh - 1, max(0, int(cy // STRIDE)))
        g[iy, ix] = 1.0
        k = 1 if defect else 0
        heat[k] = np.maximum(heat[k], g)
        sel = (g > 0.3) & (g > bw)
        bw[sel] = g[sel]
        for j, v in enumerate((x1, y1, x2, y2)):
            box[j][sel] = v
    return heat, mask, box, bw


def crop_boxes(boxes, ox, oy, h, w):
    """Boxes of a frame seen through a crop at (ox, oy) of size h x w; a full part cut by the crop becomes
    partial (ignored), boxes outside the crop are dropped."""
    out = []
    for (x1, y1, x2, y2, defect, full) in boxes:
        a1, b1, a2, b2 = x1 - ox, y1 - oy, x2 - ox, y2 - oy
        if a2 <= 0 or b2 <= 0 or a1 >= w or b1 >= h:
            continue
        inside = a1 >= -0.5 and b1 >= -0.5 and a2 <= w + 0.5 and b2 <= h + 0.5
        out.append((max(a1, 0.0), max(b1, 0.0), min(a2, float(w)), min(b2, float(h)), defect, full and inside))
    return out


def flip_boxes(boxes, h, w, horizontal, vertical):
    out = []
    for (x1, y1, x2, y2, d, f) in boxes:
        if horizontal:
            x1, x2 = w - x2, w - x1
        if vertical:
            y1, y2 = h - y2, h - y1
        out.append((x1, y1, x2, y2, d, f))
    return out


class Scenes:
    """Frames (uint8, memory-mapped) and boxes of a list of seeds; `every` keeps every n-th frame."""

    def __init__(self, data, seeds, every=1):
        self.items = []
        self.frames = {}
        self.boxes = {}
        self.add(data, seeds, every)

    def add(self, data, seeds, every=1):
        for s in seeds:
            d = scene_dir(data, s)
            self.frames[s] = load_frames(d)
            self.boxes[s] = load_boxes(d)
            n = min(len(self.frames[s]), len(self.boxes[s]))
            self.items.extend((s, t) for t in range(0, n, every))

    def crop(self, rng, ch, cw, part_bias=0.85):
        """A random training crop (uint8 HWC, boxes in crop pixels): mostly placed around a fully visible part,
        offsets on the stride grid so the convolutions see the same sampling phase as on full frames."""
        s, t = self.items[rng.integers(len(self.items))]
        frame, boxes = self.frames[s][t], self.boxes[s][t]
        full = [b for b in boxes if b[5]]
        if full and rng.random() < part_bias:
            x1, y1, x2, y2 = full[rng.integers(len(full))][:4]
            lo_x, hi_x = max(0, math.ceil(x2) - cw), min(IN_W - cw, math.floor(x1))
            lo_y, hi_y = max(0, math.ceil(y2) - ch), min(IN_H - ch, math.floor(y1))
            ox = int(rng.integers(lo_x, hi_x + 1)) if hi_x >= lo_x else int(rng.integers(0, IN_W - cw + 1))
            oy = int(rng.integers(lo_y, hi_y + 1)) if hi_y >= lo_y else int(rng.integers(0, IN_H - ch + 1))
        else:
            ox = int(rng.integers(0, IN_W - cw + 1))
            oy = int(rng.integers(0, IN_H - ch + 1))
        ox, oy = ox // STRIDE * STRIDE, oy // STRIDE * STRIDE
        return np.asarray(frame[oy : oy + ch, ox : ox + cw]), crop_boxes(boxes, ox, oy, ch, cw)
