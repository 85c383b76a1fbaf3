"""Measures conveyor-demo detectors on whole scenes, decoding exactly like the agent's yolov8 decoder:
per cell label = argmax of the class scores, score = its max, class-agnostic hard NMS (IoU 0.45, at most 20).

  /usr/bin/python3 scripts/train/evaluate.py --data DIR --seeds 1000-1009 --ckpt NAME=FILE.pt ... \
      [--threshold T | --choose-threshold] --out RESULT.json

Frame-level metrics on fully visible parts (IoU >= 0.5); a detection on a part that is only partly in the
picture is neither a hit nor a false alarm (the training ignored those too). mAP@0.5 is VOC all-point AP per
class ("part" = good part, "defect" = defective part), averaged. Precision/recall are those of "defect" at the
operating threshold. --choose-threshold picks the threshold with the best defect F1 (use validation seeds).
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import load_boxes, load_frames, load_truth, scene_dir  # noqa: E402
from model import LABELS, Detector  # noqa: E402

IOU = 0.5
NMS_IOU = 0.45
MAX_DET = 20


def load_model(path):
    ck = torch.load(path)
    m = Detector(ck["width"])
    m.load_state_dict(ck["state"])
    return m.eval()


def predict(model, frames, batch=16):
    outs = []
    with torch.no_grad():
        for i in range(0, len(frames), batch):
            x = torch.from_numpy(np.asarray(frames[i : i + batch]).astype(np.float32) / 255.0).permute(0, 3, 1, 2).contiguous()
            outs.append(model(x).numpy())
    return np.concatenate(outs)


def iou_one(b, boxes):
    if len(boxes) == 0:
        return np.zeros(0)
    boxes = np.asarray(boxes, dtype=np.float64)
    iw = np.clip(np.minimum(b[2], boxes[:, 2]) - np.maximum(b[0], boxes[:, 0]), 0, None)
    ih = np.clip(np.minimum(b[3], boxes[:, 3]) - np.maximum(b[1], boxes[:, 1]), 0, None)
    inter = iw * ih
    return inter / ((b[2] - b[0]) * (b[3] - b[1]) + (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) - inter)


def decode(out, min_score=0.02):
    """One frame's output0 [6,N] -> detections [(x1,y1,x2,y2,score,label)] after NMS."""
    scores = out[4:].max(axis=0)
    labels = out[4:].argmax(axis=0)
    keep = np.where(scores >= min_score)[0]
    keep = keep[np.argsort(-scores[keep], kind="stable")]
    cx, cy, w, h = out[0:4, keep].astype(np.float64)
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    alive = np.ones(len(keep), bool)
    dets = []
    for i in range(len(keep)):
        if not alive[i]:
            continue
        b = boxes[i]
        dets.append((*b, float(scores[keep[i]]), int(labels[keep[i]])))
        if len(dets) >= MAX_DET:
            break
        alive[i + 1 :] &= iou_one(b, boxes[i + 1 :]) <= NMS_IOU
    return dets


def match_frame(dets, gt, label):
    """Detections of `label` -> list of (score, status) with status 1 hit, 0 false alarm (ignored ones dropped);
    and the number of ground-truth boxes of that label."""
    full = [g for g in gt if g[5] and int(g[4]) == label]
    partial = [g[:4] for g in gt if not g[5]]
    used = [False] * len(full)
    res = []
    for d in sorted((d for d in dets if d[5] == label), key=lambda d: -d[4]):
        ious = iou_one(d[:4], [g[:4] for g in full])
        j = int(np.argmax(ious)) if len(ious) else -1
        if j >= 0 and ious[j] >= IOU and not used[j]:
            used[j] = True
            res.append((d[4], 1))
        elif len(partial) and iou_one(d[:4], partial).max() >= IOU:
            continue
        else:
            res.append((d[4], 0))
    return res, len(full), used


def average_precision(scored, npos):
    if npos == 0:
        return 0.0
    scored = sorted(scored, key=lambda s: -s[0])
    tp = np.cumsum([s[1] for s in scored])
    fp = np.cumsum([1 - s[1] for s in scored])
    rec = tp / npos
    prec = tp / np.maximum(tp + fp, 1e-9)
    mrec = np.concatenate([[0.0], rec, [1.0]])
    mpre = np.concatenate([[1.0], prec, [0.0]])
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    idx = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))


def evaluate(outputs, gts, thresholds):
    """outputs/gts: per frame. Returns AP per class and defect P/R for every threshold."""
    scored = {k: [] for k in range(len(LABELS))}
    npos = {k: 0 for k in range(len(LABELS))}
    all_dets = [decode(o) for o in outputs]
    for dets, gt in zip(all_dets, gts):
        for k in scored:
            r, n, _ = match_frame(dets, gt, k)
            scored[k].extend(r)
            npos[k] += n
    ap = {LABELS[k]: average_precision(scored[k], npos[k]) for k in scored}
    d = scored[1]
    pr = {}
    for t in thresholds:
        tp = sum(1 for s, ok in d if s >= t and ok)
        fp = sum(1 for s, ok in d if s >= t and not ok)
        pr[t] = (tp / max(tp + fp, 1), tp / max(npos[1], 1))
    return ap, pr, npos, all_dets


def part_level(all_dets, gts, truth, frame_offset, threshold):
    """Per physical part: fraction of its fully visible frames in which it is detected as a defect."""
    flagged = {}
    for t, (dets, gt) in enumerate(zip(all_dets, gts)):
        dd = [d for d in dets if d[5] == 1 and d[4] >= threshold]
        for g in gt:
            if not g[5]:
                continue
            hit = any(iou_one(d[:4], [g[:4]])[0] >= IOU for d in dd)
            key = g[6]
            n, h = flagged.get(key, (0, 0))
            flagged[key] = (n + 1, h + int(hit))
    res = []
    for p in truth["parts"]:
        n, h = flagged.get(p["id"], (0, 0))
        res.append((p["defect"], h / max(n, 1), p["kind"] or "good"))
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--seeds", required=True, help="e.g. 1000-1009")
    ap.add_argument("--ckpt", action="append", required=True, help="NAME=checkpoint.pt")
    ap.add_argument("--threshold", type=float)
    ap.add_argument("--choose-threshold", action="store_true")
    ap.add_argument("--thresholds-from", help="validation result: each model at its own chosen threshold "
                    "(and also at the shipped student's, the manifest's operating threshold)")
    ap.add_argument("--operating", default="student", help="model whose validation threshold the manifest uses")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    torch.set_num_threads(1)
    lo, hi = (int(v) for v in a.seeds.split("-"))
    seeds = list(range(lo, hi + 1))
    grid_t = [round(x, 2) for x in np.arange(0.05, 0.96, 0.01)]
    chosen = {}
    if a.thresholds_from:
        with open(a.thresholds_from) as f:
            chosen = {k: v["threshold"] for k, v in json.load(f).items()}
    scenes = []
    for s in seeds:
        d = scene_dir(a.data, s)
        boxes = load_boxes(d)
        # Keep the part id with each box for the part-level summary.
        with open(os.path.join(d, "boxes.jsonl")) as f:
            ids = [[b["id"] for b in json.loads(line)["boxes"]] for line in f]
        gts = [[(*b, i) for b, i in zip(fb, fi)] for fb, fi in zip(boxes, ids)]
        scenes.append((load_frames(d), gts, load_truth(d)))
    result = {}
    for spec in a.ckpt:
        name, path = spec.split("=", 1)
        model = load_model(path)
        t0 = time.time()
        outputs, gts = [], []
        for frames, g, _ in scenes:
            n = min(len(frames), len(g))
            outputs.extend(predict(model, frames[:n]))
            gts.extend(g[:n])
        common = chosen.get(a.operating)
        if a.choose_threshold:
            thresholds = grid_t
        elif chosen:
            thresholds = sorted({chosen[name], common})
        else:
            thresholds = [a.threshold]
        ap_c, pr, npos, all_dets = evaluate(outputs, gts, thresholds)
        if a.choose_threshold:
            f1 = {t: (2 * p * r / (p + r) if p + r else 0) for t, (p, r) in pr.items()}
            best = max(f1.values())
            ties = [t for t in thresholds if f1[t] >= best - 1e-9]
            thr = ties[len(ties) // 2]
        else:
            thr = chosen[name] if chosen else a.threshold
        p, r = pr[thr]
        # Part-level view (what the agent's N-of-M rule sees).
        k = 0
        parts = []
        for frames, g, truth in scenes:
            n = min(len(frames), len(g))
            parts.extend(part_level(all_dets[k : k + n], g[:n], truth, k, thr))
            k += n
        bad = [f for d, f, _ in parts if d]
        good = [f for d, f, _ in parts if not d]
        by_kind = {}
        for d, f, kind in parts:
            by_kind.setdefault(kind, []).append(f)
        result[name] = {
            "width": model.width,
            "mAP50": round((ap_c["part"] + ap_c["defect"]) / 2, 4),
            "perClass": {k2: round(v, 4) for k2, v in ap_c.items()},
            "precision": round(p, 4),
            "recall": round(r, 4),
            "threshold": thr,
            "frames": len(outputs),
            "instances": {LABELS[k2]: v for k2, v in npos.items()},
            "seeds": f"{lo}-{hi}",
            "partLevel": {
                "defectiveParts": len(bad),
                "defectiveFlaggedInHalfTheirFrames": sum(1 for f in bad if f >= 0.5),
                "goodParts": len(good),
                "goodFlaggedInAnyFrame": sum(1 for f in good if f > 0),
                "meanDefectFrameShare": round(float(np.mean(bad)) if bad else 0.0, 4),
                # Per defect kind (and "good"): parts, parts flagged in >= half their frames, mean share flagged.
                "byKind": {
                    k: {"parts": len(v), "flaggedInHalf": sum(1 for f in v if f >= 0.5), "meanShare": round(float(np.mean(v)), 4)}
                    for k, v in sorted(by_kind.items())
                },
            },
            "seconds": round(time.time() - t0, 1),
        }
        if common is not None and not a.choose_threshold:
            cp, cr = pr[common]
            result[name]["atOperatingThreshold"] = {"threshold": common, "precision": round(cp, 4), "recall": round(cr, 4)}
        print(name, json.dumps(result[name]), flush=True)
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=1)
    os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
