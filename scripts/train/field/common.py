"""Shared by the field model's training, evaluation and export: data loading, cell labels, the network."""
import json
import os

import numpy as np
import torch
import torch.nn as nn

W, H, STRIDE = 160, 120, 8
GW, GH = W // STRIDE, H // STRIDE  # 20 x 15 cells
LABELS = ["healthy", "wilted", "dry_soil"]


def load_scene(data, seed):
    d = os.path.join(data, f"seed-{seed}")
    truth = json.load(open(os.path.join(d, "truth.json")))
    frames = np.fromfile(os.path.join(d, "frames.u8"), dtype=np.uint8)
    frames = frames.reshape(-1, H, W, 3)
    assert frames.shape[0] == truth["frames"], (seed, frames.shape, truth["frames"])
    return frames, truth


def cell_zones(truth):
    """Zone index of each cell (by its centre), -1 outside every bed: shape (GH, GW)."""
    z = np.full((GH, GW), -1, dtype=np.int64)
    for r in range(GH):
        for c in range(GW):
            x = (c + 0.5) / GW
            y = (r + 0.5) / GH
            for zone in truth["zones"]:
                x1, y1, x2, y2 = zone["box"]
                if x1 <= x < x2 and y1 <= y < y2:
                    z[r, c] = zone["id"]
    return z


def cell_targets(truth):
    """Per frame and cell: [healthy, wilted, dry_soil] in {0,1}; shape (T, 3, GH, GW)."""
    zc = cell_zones(truth)
    T = truth["frames"]
    y = np.zeros((T, 3, GH, GW), dtype=np.float32)
    for zone in truth["zones"]:
        m = zc == zone["id"]
        wil = np.array(zone["wilted"], dtype=np.float32)
        dry = np.array(zone["drySoil"], dtype=np.float32)
        y[:, 0][:, m] = (1 - wil)[:, None]
        y[:, 1][:, m] = wil[:, None]
        y[:, 2][:, m] = dry[:, None]
    return y


def conv(cin, cout, stride=1, dil=1):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=dil, dilation=dil, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class FieldNet(nn.Module):
    """Stride-8 per-cell classifier: healthy / wilted / dry soil logits per 8x8 cell of a 160x120 picture."""

    def __init__(self, width=1.0):
        super().__init__()
        c1, c2, c3 = int(16 * width), int(24 * width), int(32 * width)
        self.features = nn.Sequential(conv(3, c1, 2), conv(c1, c2, 2), conv(c2, c3, 2), conv(c3, c3, 1, 2), conv(c3, c3, 1, 4))
        self.head = nn.Conv2d(c3, 3, 1)

    def forward(self, x):
        return self.head(self.features(x))


class Exported(nn.Module):
    """The graph the agent runs: YOLOv8 layout output0 [1, 4 + 3, 300] (cx, cy, w, h in input pixels, then the
    three label scores), one fixed 16x16 box per 8x8 cell, so the agent's yolov8 decoder reads it unchanged."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        cols = (torch.arange(GW, dtype=torch.float32) + 0.5) * STRIDE
        rows = (torch.arange(GH, dtype=torch.float32) + 0.5) * STRIDE
        cy, cx = torch.meshgrid(rows, cols, indexing="ij")
        boxes = torch.stack([cx.reshape(-1), cy.reshape(-1), torch.full((GH * GW,), 16.0), torch.full((GH * GW,), 16.0)])
        self.register_buffer("boxes", boxes.unsqueeze(0))

    def forward(self, images):
        s = torch.sigmoid(self.net(images)).reshape(1, 3, GH * GW)
        return torch.cat([self.boxes, s], dim=1)


def seeds(spec):
    out = []
    for part in spec.split(","):
        if "-" in part:
            a, b = part.split("-")
            out.extend(range(int(a), int(b) + 1))
        else:
            out.append(int(part))
    return out
