"""A small YOLO-style detector with SiLU activations and depthwise-separable convolutions, exported to ONNX.

Written to test `edge-agent optimize` on the kind of graph that made its int8 slower and worse (issue 18): every
activation is SiLU (exported as Sigmoid * Mul), most convolutions are depthwise 3x3 + pointwise 1x1, and the head
decodes boxes in the graph (yolov8 layout: [1, 4 + C, N], cx cy w h in input pixels, class scores after sigmoid).
The weights are random (seeded), with BatchNorm statistics set by running a few random batches, so the outputs
vary with the picture like a real detector's; it is not trained to find anything in particular.

  /usr/bin/python3 scripts/optimize/silu_detector.py OUT_DIR [--seed N]

Writes OUT_DIR/silu-det.onnx and OUT_DIR/manifest.json (needs Debian's python3-torch and python3-onnx).
"""
import argparse
import hashlib
import json
import os

import torch
from torch import nn


def conv_bn(cin, cout, k, s, groups=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout), nn.SiLU())


def dw_block(cin, cout, s):
    return nn.Sequential(conv_bn(cin, cin, 3, s, groups=cin), conv_bn(cin, cout, 1, 1))


class SiluDet(nn.Module):
    def __init__(self, classes=2, stride=8):
        super().__init__()
        self.stride = stride
        self.classes = classes
        self.backbone = nn.Sequential(
            conv_bn(3, 16, 3, 2),
            dw_block(16, 32, 2),
            dw_block(32, 48, 1),
            dw_block(48, 64, 2),
            dw_block(64, 64, 1),
            dw_block(64, 96, 1),
        )
        self.up = nn.Sequential(dw_block(96, 96, 2), dw_block(96, 96, 1))
        self.fuse = conv_bn(96 + 96, 96, 1, 1)
        self.box = nn.Sequential(dw_block(96, 64, 1), nn.Conv2d(64, 4, 1))
        self.cls = nn.Sequential(dw_block(96, 64, 1), nn.Conv2d(64, classes, 1))

    def forward(self, x):
        f8 = self.backbone(x)
        f16 = self.up(f8)
        f = self.fuse(torch.cat([f8, nn.functional.interpolate(f16, scale_factor=2.0, mode='nearest')], 1))
        n, _, h, w = f.shape
        ltrb = torch.exp(self.box(f).clamp(max=4.0)) * self.stride  # distances to the four sides, pixels
        ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing='ij')
        cx = (xs + 0.5) * self.stride
        cy = (ys + 0.5) * self.stride
        x1 = cx - ltrb[:, 0]
        y1 = cy - ltrb[:, 1]
        x2 = cx + ltrb[:, 2]
        y2 = cy + ltrb[:, 3]
        boxes = torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], 1).reshape(n, 4, h * w)
        scores = torch.sigmoid(self.cls(f)).reshape(n, self.classes, h * w)
        return torch.cat([boxes, scores], 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('out')
    ap.add_argument('--seed', type=int, default=18)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    m = SiluDet()
    # BatchNorm statistics from random pictures, then a class bias that keeps a few boxes over the threshold.
    m.train()
    with torch.no_grad():
        for _ in range(8):
            m(torch.rand(4, 3, 256, 320))
        m.cls[1].bias.fill_(-0.5)
    m.eval()
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, 'silu-det.onnx')
    torch.onnx.export(m, torch.rand(1, 3, 256, 320), path, input_names=['images'], output_names=['output0'], opset_version=13, do_constant_folding=True)
    sha = hashlib.sha256(open(path, 'rb').read()).hexdigest()
    manifest = {
        'schema': 1,
        'name': 'silu-det',
        'description': 'Random-weight SiLU/depthwise YOLO-style detector (scripts/optimize/silu_detector.py), for testing optimize',
        'labels': ['a', 'b'],
        'input': {'name': 'images', 'shape': [1, 3, 256, 320], 'layout': 'NCHW', 'normalise': {'mean': [0, 0, 0], 'std': [255, 255, 255]}},
        'decoder': {'type': 'yolov8', 'params': {'output': 'output0'}, 'scoreThreshold': 0.3, 'nms': {'iou': 0.45, 'classAgnostic': True, 'maxDetections': 20}},
        'variants': [{'name': 'silu-fp32', 'file': 'silu-det.onnx', 'runtime': 'onnxruntime', 'accelerator': 'cpu', 'precision': 'fp32', 'sha256': sha}],
    }
    with open(os.path.join(a.out, 'manifest.json'), 'w') as f:
        json.dump(manifest, f, indent=2)
        f.write('\n')
    print(path)


if __name__ == '__main__':
    main()
