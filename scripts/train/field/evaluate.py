"""Zone-level evaluation of a field model on whole scenes (24 h clips).

A zone "needs water" per the camera when the best dry_soil score over its cells reaches the threshold (the
same thing the irrigation controller does with the decoded detections: best score of the zone's labels inside
its area). Compared per frame with the truth's drySoil (what the camera is asked to see); rain is the rain
sensor's job. Also: the same by light phase, false triggers in frames where a visitor covers part of a zone, and
wilted-leaf detection. --choose-threshold picks the threshold with the best F1 on these seeds.

/usr/bin/python3 evaluate.py --data DATA --model student.pt --seeds 501-504 --choose-threshold --json val.json
/usr/bin/python3 evaluate.py --data DATA --model student.pt --seeds 1000-1011 --threshold T --json eval.json
"""
import argparse
import json

import numpy as np
import torch

from common import LABELS, FieldNet, cell_targets, cell_zones, load_scene, seeds


def average_precision(scores, targets):
    """AP of one label over cells (each cell is its own box: IoU 1 with its ground truth cell)."""
    order = np.argsort(-scores, kind="stable")
    t = targets[order].astype(bool)
    if t.sum() == 0:
        return 1.0
    tp = np.cumsum(t)
    prec = tp / np.arange(1, len(t) + 1)
    return float((prec * t).sum() / t.sum())


def zone_scores(net, frames, truth, cells=None):
    zc = cell_zones(truth)
    out = []
    with torch.no_grad():
        for i in range(0, len(frames), 64):
            x = torch.from_numpy(frames[i : i + 64]).float().permute(0, 3, 1, 2) / 255.0
            out.append(torch.sigmoid(net(x)).numpy())
    p = np.concatenate(out)  # T, 3, GH, GW
    if cells is not None:
        cells.append(p)
    nz = len(truth["zones"])
    dry = np.stack([p[:, 2][:, zc == z].max(axis=1) for z in range(nz)], axis=1)
    wil = np.stack([p[:, 1][:, zc == z].max(axis=1) for z in range(nz)], axis=1)
    return dry, wil


def visitor_frames(truth):
    """(frame, zone) pairs where a visitor's box overlaps the zone's bed."""
    pairs = set()
    for v in truth["visitors"]:
        for f, x1, y1, x2, y2 in v["boxes"]:
            for z in truth["zones"]:
                a = z["box"]
                if x1 < a[2] and x2 > a[0] and y1 < a[3] and y2 > a[1]:
                    pairs.add((f, z["id"]))
    return pairs


def prf(pred, gt):
    tp = int((pred & gt).sum())
    fp = int((pred & ~gt).sum())
    fn = int((~pred & gt).sum())
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4), "tp": tp, "fp": fp, "fn": fn}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--seeds", required=True)
    ap.add_argument("--threshold", type=float)
    ap.add_argument("--choose-threshold", action="store_true")
    ap.add_argument("--json")
    a = ap.parse_args()
    torch.set_num_threads(1)
    ck = torch.load(a.model)
    net = FieldNet(ck["width"])
    net.load_state_dict(ck["state"])
    net.eval()
    D, Wl, G, GW_, L, V, M, P, T = [], [], [], [], [], [], [], [], []
    for s in seeds(a.seeds):
        frames, truth = load_scene(a.data, s)
        dry, wil = zone_scores(net, frames, truth, P)
        T.append(cell_targets(truth))
        D.append(dry)
        Wl.append(wil)
        G.append(np.stack([np.array(z["drySoil"], bool) for z in truth["zones"]], axis=1))
        GW_.append(np.stack([np.array(z["wilted"], bool) for z in truth["zones"]], axis=1))
        M.append(np.stack([np.array(z["moisture"]) for z in truth["zones"]], axis=1))
        L.append(np.repeat(np.array(truth["light"])[:, None], len(truth["zones"]), axis=1))
        vis = np.zeros_like(dry, dtype=bool)
        for f, z in visitor_frames(truth):
            vis[f, z] = True
        V.append(vis)
    dry, wil, gt, gtw, light, vis, moist = (np.concatenate(v) for v in (D, Wl, G, GW_, L, V, M))
    thr = a.threshold
    if a.choose_threshold:
        best = max((prf(dry >= t, gt)["f1"], t) for t in np.arange(0.05, 0.999, 0.005))
        thr = round(float(best[1]), 3)
    pred = dry >= thr
    cp, ct = np.concatenate(P), np.concatenate(T)
    ap = {lab: round(average_precision(cp[:, k].reshape(-1), ct[:, k].reshape(-1)), 4) for k, lab in enumerate(LABELS)}
    res = {
        "model": a.model,
        "width": ck["width"],
        "cellAP": ap,
        "mAP": round(sum(ap.values()) / len(ap), 4),
        "seeds": a.seeds,
        "zoneFrames": int(gt.size),
        "threshold": thr,
        "needsWater": prf(pred, gt),
        "needsWaterAwayFromThreshold": prf(pred[np.abs(moist - 30) >= 1], gt[np.abs(moist - 30) >= 1]),
        "byLight": {ph: prf(pred[light == ph], gt[light == ph]) for ph in ["night", "dawn", "day", "noon", "dusk"]},
        "visitorZoneFrames": int(vis.sum()),
        "visitorFalseTriggers": int((pred & ~gt & vis).sum()),
        "wilted": prf(wil >= 0.5, gtw),
    }
    print(json.dumps(res, indent=1))
    if a.json:
        json.dump(res, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
