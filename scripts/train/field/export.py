"""Exports a trained field model to ONNX (opset 13, static [1, 3, 120, 160] input, BatchNorm folded by eval-mode
tracing + constant folding), with a known-answer input (a frame of an evaluation scene) and torch's output for it.

/usr/bin/python3 export.py --model student.pt --onnx student.onnx --data DATA --ka-seed 1000 --ka-frame 150 --ka-dir OUT
"""
import argparse
import json
import os

import numpy as np
import torch

from common import Exported, FieldNet, load_scene


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--onnx", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--ka-seed", type=int, default=1000)
    ap.add_argument("--ka-frame", type=int, default=150)
    ap.add_argument("--ka-dir", required=True)
    a = ap.parse_args()
    ck = torch.load(a.model)
    net = FieldNet(ck["width"])
    net.load_state_dict(ck["state"])
    net.eval()
    model = Exported(net).eval()
    x = torch.zeros(1, 3, 120, 160)
    torch.onnx.export(model, x, a.onnx, opset_version=13, input_names=["images"], output_names=["output0"], do_constant_folding=True)
    frames, _ = load_scene(a.data, a.ka_seed)
    ka = torch.from_numpy(frames[a.ka_frame]).float().permute(2, 0, 1).unsqueeze(0) / 255.0
    os.makedirs(a.ka_dir, exist_ok=True)
    ka.numpy().astype("<f4").tofile(os.path.join(a.ka_dir, "ka_input.f32"))
    with torch.no_grad():
        out = model(ka).numpy().reshape(-1)
    base = os.path.splitext(os.path.basename(a.onnx))[0]
    json.dump({"params": ck["params"], "width": ck["width"], "args": ck["args"], "reference": out.tolist()}, open(os.path.join(a.ka_dir, f"{base}.ref.json"), "w"))
    print(f"{a.onnx}: {os.path.getsize(a.onnx)} bytes")


if __name__ == "__main__":
    main()
