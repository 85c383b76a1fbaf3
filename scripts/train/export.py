"""Exports trained detectors to ONNX and writes what the Node finishing step needs.

  /usr/bin/python3 scripts/train/export.py --data DIR --ckpt NAME=FILE.pt ... --model-dir models/conveyor-demo \
      --ka-seed 1000 --ref OUT.json

For each NAME: models/conveyor-demo/NAME.onnx (opset 13, static shapes, BatchNorm folded, constants folded,
no Identity nodes).
Also writes the known-answer input ka_input.f32 (one real frame of an evaluation scene, as the float32 input
tensor, little-endian) and OUT.json with, per model, torch's output0 on that input, parameter count and MACs.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import load_frames, load_truth, scene_dir  # noqa: E402
from evaluate import load_model  # noqa: E402
from model import IN_H, IN_W, count_macs  # noqa: E402


def known_answer_frame(data, seed):
    """A frame of the scene in which the first defective part is fully visible (middle of its range)."""
    d = scene_dir(data, seed)
    truth = load_truth(d)
    part = next(p for p in truth["parts"] if p["defect"])
    t = (part["frames"][0] + part["frames"][1]) // 2
    frame = np.asarray(load_frames(d)[t]).astype(np.float32) / 255.0
    return t, np.ascontiguousarray(frame.transpose(2, 0, 1)[None])


def drop_identities(path):
    """Rewires Identity nodes away (the exporter emits them for initialisers it deduplicated); OpenCV 4.6's
    dnn importer rejects Identity nodes, and the pipeline benchmark runs the demo model in OpenCV too."""
    import onnx

    m = onnx.load(path)
    outs = {o.name for o in m.graph.output}
    alias = {n.output[0]: n.input[0] for n in m.graph.node if n.op_type == "Identity" and n.output[0] not in outs}
    if not alias:
        return
    keep = [n for n in m.graph.node if not (n.op_type == "Identity" and n.output[0] in alias)]
    for n in keep:
        for i, name in enumerate(n.input):
            while name in alias:
                name = alias[name]
            n.input[i] = name
    del m.graph.node[:]
    m.graph.node.extend(keep)
    onnx.checker.check_model(m)
    onnx.save(m, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--ckpt", action="append", required=True, help="NAME=checkpoint.pt[@FILE.onnx] (default file NAME.onnx)")
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--ka-seed", type=int, default=1000)
    ap.add_argument("--ref", required=True)
    a = ap.parse_args()
    torch.set_num_threads(1)
    os.makedirs(a.model_dir, exist_ok=True)
    t, x = known_answer_frame(a.data, a.ka_seed)
    x.astype("<f4").tofile(os.path.join(a.model_dir, "ka_input.f32"))
    ref = {"kaSeed": a.ka_seed, "kaFrame": t, "models": {}}
    for spec in a.ckpt:
        name, path = spec.split("=", 1)
        path, _, fname = path.partition("@")
        fname = fname or f"{name}.onnx"
        model = load_model(path)
        out_file = os.path.join(a.model_dir, fname)
        tmp = out_file + ".tmp"
        torch.onnx.export(
            model,
            torch.zeros(1, 3, IN_H, IN_W),
            tmp,
            input_names=["images"],
            output_names=["output0"],
            opset_version=13,
            do_constant_folding=True,
        )
        drop_identities(tmp)
        os.replace(tmp, out_file)
        with torch.no_grad():
            y = model(torch.from_numpy(x)).numpy()
        ck = torch.load(path)
        ref["models"][name] = {
            "file": fname,
            "width": ck["width"],
            "params": int(sum(p.numel() for p in model.parameters())),
            "macs": int(count_macs(model)),
            "trainSeconds": round(ck.get("seconds", 0)),
            "trainArgs": ck.get("args", {}),
            "output0": y.reshape(-1).tolist(),
        }
        print(f"{name}: {out_file} ({os.path.getsize(out_file)} bytes)")
    with open(a.ref + ".tmp", "w") as f:
        json.dump(ref, f)
    os.replace(a.ref + ".tmp", a.ref)


if __name__ == "__main__":
    main()
