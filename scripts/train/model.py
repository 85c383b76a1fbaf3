"""Anchor-free detector for the conveyor demo (CenterNet/FCOS-style, one stride-8 head).

Input  images  float32 [1,3,240,320], RGB, pixel/255.
Output output0 float32 [1,6,1200] in the YOLOv8 layout: rows 0-3 = box cx, cy, w, h in input pixels,
rows 4-5 = sigmoid class scores for labels ["part", "defect"]; column = grid cell (row-major 30x40).
The box decoding (cell offset + exp size) is part of the graph, so the agent's yolov8 decoder needs nothing else.
"""
import torch
import torch.nn as nn

IN_H, IN_W = 240, 320
STRIDE = 8
GRID_H, GRID_W = IN_H // STRIDE, IN_W // STRIDE
BOX_SCALE = 64.0  # w, h = exp(raw) * BOX_SCALE input pixels; demo parts are 45-95 px at 320x240
LABELS = ["part", "defect"]


def conv_bn(cin, cout, stride=1, dilation=1):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class Detector(nn.Module):
    """width=0.75: the student (~80 k parameters); width=1.25: the teacher (~2.8x the parameters and MACs). A 1.0-wide
    student (16-64 channels, ~143 k parameters) quantises better but was less accurate in its one run (docs/optimize.md)."""

    def __init__(self, width=1.0):
        super().__init__()
        c = lambda n: int(round(n * width))
        self.width = width
        self.features = nn.Sequential(
            conv_bn(3, c(16), stride=2),  # 120x160
            conv_bn(c(16), c(32), stride=2),  # 60x80
            conv_bn(c(32), c(48), stride=2),  # 30x40
            conv_bn(c(48), c(48)),
            conv_bn(c(48), c(64), dilation=2),  # receptive field grows to cover a whole part
            conv_bn(c(64), c(64), dilation=4),
            conv_bn(c(64), c(64)),
        )
        # A defect anywhere on a part must reach the cell at its centre: a 7x7 max over the stride-8 features
        # (56x56 input pixels: a small part, or the middle of a large one) and that max taken again (13x13 cells,
        # 104x104 input pixels: the edge of the largest part, where a chip is), next to the features themselves.
        self.pool = nn.MaxPool2d(7, stride=1, padding=3)
        self.cls = nn.Conv2d(3 * c(64), len(LABELS), 1)
        self.box = nn.Conv2d(3 * c(64), 4, 1)
        with torch.no_grad():
            self.cls.bias.copy_(torch.tensor([-4.6, 0.0]))  # objects start at p ~ 0.01 (focal-loss practice)
        nn.init.zeros_(self.box.weight)
        nn.init.zeros_(self.box.bias)
        gx, gy = grid(GRID_H, GRID_W)
        self.register_buffer("gx", gx, persistent=False)
        self.register_buffer("gy", gy, persistent=False)

    def raw(self, x):
        """Logits [B,2,H,W] (0: a part's centre is here, 1: that part is defective) and raw box [B,4,H,W]
        (offset x, offset y, log w, log h)."""
        f = self.features(x)
        near = self.pool(f)
        f = torch.cat([f, near, self.pool(near)], dim=1)
        return self.cls(f), self.box(f)

    def forward(self, x):
        logits, box = self.raw(x)
        out = torch.cat([decode_boxes(box, self.gx, self.gy), class_scores(logits)], dim=1)
        return out.reshape(out.shape[0], 4 + len(LABELS), GRID_H * GRID_W)


def grid(gh, gw):
    gy, gx = torch.meshgrid(torch.arange(gh, dtype=torch.float32), torch.arange(gw, dtype=torch.float32), indexing="ij")
    return gx.reshape(1, 1, gh, gw), gy.reshape(1, 1, gh, gw)


def decode_boxes(box, gx, gy):
    """Raw box outputs -> cx, cy, w, h in input pixels ([B,4,H,W])."""
    cx = (gx + 0.5 + box[:, 0:1]) * STRIDE
    cy = (gy + 0.5 + box[:, 1:2]) * STRIDE
    # A soft clamp of the log-size to (-3, 3): tanh exports as one plain op (torch.clamp becomes an opset-13 Clip
    # with tensor bounds, which OpenCV's dnn importer rejects), and keeps a gradient at the bounds.
    wh = torch.exp(3.0 * torch.tanh(box[:, 2:4] / 3.0)) * BOX_SCALE
    return torch.cat([cx, cy, wh], dim=1)


def class_scores(logits):
    """p(part) = p(object) * (1 - p(defect | object)), p(defect) = p(object) * p(defect | object).
    Finding parts and judging them are learnt as two questions (the second only where there is a part), which
    trains much faster than two competing class maps; the output keeps the two-label YOLOv8 layout."""
    obj = torch.sigmoid(logits[:, 0:1])
    bad = torch.sigmoid(logits[:, 1:2])
    return torch.cat([obj * (1 - bad), obj * bad], dim=1)


def count_macs(model):
    """Multiply-accumulates of one inference, counted from the conv layers' output sizes (the head's decode
    adds a few thousand elementwise ops, negligible)."""
    macs = 0
    hooks = []

    def hook(m, _inp, out):
        nonlocal macs
        k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
        macs += out.numel() // out.shape[0] * k

    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(hook))
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, IN_H, IN_W))
    for h in hooks:
        h.remove()
    return macs
