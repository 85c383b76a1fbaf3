#!/usr/bin/python3
"""The peer approach many edge users take, for the pipeline benchmark: a Python loop with OpenCV.

cv2.VideoCapture decodes the video, cv2.dnn.blobFromImage resizes and normalises, cv2.dnn runs the ONNX model
(readNetFromONNX), the outputs are decoded and filtered with cv2.dnn.NMSBoxes. Same video, same model file and the
same input contract (size, colour order, mean/std) as the agent, read from the model manifest. One thread
(cv2.setNumThreads(1)), like the agent's one inference thread. Prints one JSON object.

Usage: /usr/bin/python3 scripts/bench/opencv_loop.py --manifest M --variant V --video FILE [--max-frames N]
"""
import argparse
import json
import os
import resource
import sys
import time

import cv2
import numpy as np


def load_manifest(path):
    if os.path.isdir(path):
        path = os.path.join(path, "manifest.json")
    with open(path) as f:
        m = json.load(f)
    return m, os.path.dirname(os.path.abspath(path))


def decode_yolov8(outs, score_thr, iou, in_w, in_h):
    """[1, 4 + C, N]: rows cx, cy, w, h (input pixels) then class scores."""
    p = outs[0][0]
    scores = p[4:]
    cls = scores.argmax(axis=0)
    best = scores.max(axis=0)
    keep = best >= score_thr
    if not keep.any():
        return []
    b = p[:4, keep].T
    boxes = np.stack([b[:, 0] - b[:, 2] / 2, b[:, 1] - b[:, 3] / 2, b[:, 2], b[:, 3]], axis=1)
    conf = best[keep]
    idx = cv2.dnn.NMSBoxes(boxes.tolist(), conf.tolist(), score_thr, iou)
    return [(int(cls[keep][i]), float(conf[i]), boxes[i].tolist()) for i in np.array(idx).flatten()]


def decode_prior_boxes(outs, names, score_thr, iou, in_w, in_h):
    """UltraFace-style outputs already decoded in the graph: scores [1, N, 2], boxes [1, N, 4] (x1 y1 x2 y2, 0..1)."""
    d = dict(zip(names, outs))
    scores = d.get("scores", outs[0])[0]
    boxes = d.get("boxes", outs[1])[0]
    conf = scores[:, 1]
    keep = conf >= score_thr
    if not keep.any():
        return []
    b = boxes[keep]
    xywh = np.stack([b[:, 0] * in_w, b[:, 1] * in_h, (b[:, 2] - b[:, 0]) * in_w, (b[:, 3] - b[:, 1]) * in_h], axis=1)
    idx = cv2.dnn.NMSBoxes(xywh.tolist(), conf[keep].tolist(), score_thr, iou)
    return [(0, float(conf[keep][i]), xywh[i].tolist()) for i in np.array(idx).flatten()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--variant")
    ap.add_argument("--video", required=True)
    ap.add_argument("--max-frames", type=int, default=0)
    a = ap.parse_args()

    cv2.setNumThreads(1)
    m, base = load_manifest(a.manifest)
    variants = [v for v in m["variants"] if v.get("runtime") == "onnxruntime"]
    v = next((x for x in variants if x["name"] == a.variant), variants[0])
    model_file = v["file"] if os.path.isabs(v["file"]) else os.path.join(base, v["file"])
    inp = m["input"]
    shape = inp["shape"]
    in_h, in_w = (shape[2], shape[3]) if inp["layout"] == "NCHW" else (shape[1], shape[2])
    norm = inp.get("normalise", {})
    mean = norm.get("mean", [0, 0, 0])
    std = norm.get("std", [1, 1, 1])
    rgb = inp.get("color", "RGB") == "RGB"
    dec = m["decoder"]
    score_thr = dec.get("scoreThreshold", 0.25)
    iou = dec.get("nms", {}).get("iou", 0.45)

    net = cv2.dnn.readNetFromONNX(model_file)
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    out_names = net.getUnconnectedOutLayersNames()
    cap = cv2.VideoCapture(a.video)
    if not cap.isOpened():
        print(json.dumps({"error": f"cannot open {a.video}"}))
        return 1

    same_std = len(set(std)) == 1
    lat = []
    detections = 0
    frames = 0
    c0 = time.process_time()
    t0 = time.perf_counter()
    while True:
        t_cap = time.perf_counter()
        ok, frame = cap.read()
        if not ok:
            break
        if same_std:
            # (pixel - mean) / std, resized to the model input (plain resize, like the agent's "stretch").
            blob = cv2.dnn.blobFromImage(frame, 1.0 / std[0], (in_w, in_h), mean, swapRB=rgb, crop=False)
        else:
            img = cv2.resize(frame, (in_w, in_h), interpolation=cv2.INTER_AREA)
            if rgb:
                img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
            blob = ((img.astype(np.float32) - np.array(mean, np.float32)) / np.array(std, np.float32)).transpose(2, 0, 1)[None]
        if inp["layout"] == "NHWC":
            blob = blob.transpose(0, 2, 3, 1)
        net.setInput(blob)
        outs = net.forward(out_names)
        if dec["type"] == "yolov8":
            dets = decode_yolov8(outs, score_thr, iou, in_w, in_h)
        elif dec["type"] == "prior-boxes":
            dets = decode_prior_boxes(outs, out_names, score_thr, iou, in_w, in_h)
        else:
            dets = []
        detections += len(dets)
        lat.append((time.perf_counter() - t_cap) * 1000)
        frames += 1
        if a.max_frames and frames >= a.max_frames:
            break
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0
    lat.sort()
    pct = lambda p: lat[min(len(lat) - 1, max(0, int(np.ceil(p / 100 * len(lat))) - 1))] if lat else 0
    print(json.dumps({
        "frames": frames,
        "seconds": seconds,
        "fps": frames / seconds if seconds > 0 else 0,
        "latencyP50Ms": pct(50),
        "latencyP99Ms": pct(99),
        "cpuMsPerFrame": cpu * 1000 / frames if frames else 0,
        # ru_maxrss is in kilobytes on Linux (getrusage(2)).
        "peakRssMb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "detections": detections,
        "opencv": cv2.__version__,
        "decoded": dec["type"] in ("yolov8", "prior-boxes"),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
