"""Trains one conveyor-demo detector: the teacher, the student alone, or the student distilled from the teacher.

  /usr/bin/python3 scripts/train/train.py --data DIR --out CKPT --width 0.75 [--teacher T.pt --alpha A --temperature T]

Ground-truth loss: CenterNet focal loss on the object map (positives = centre cells of fully visible parts,
cells over partly visible parts ignored), BCE of "defective" on the cells around each part's centre, and GIoU
and L1 on the decoded boxes near each centre.
Distillation (the seed's loss): per-cell binary KL divergence between the temperature-softened teacher and
student class probabilities, times T^2, mixed with the ground-truth class loss: (1-alpha)*L_gt + alpha*L_kd.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import Scenes, build_targets, flip_boxes  # noqa: E402
from model import STRIDE, Detector, decode_boxes, grid  # noqa: E402

CROP_H, CROP_W = 96, 128


def make_batch(scenes, rng, n):
    imgs, heats, masks, boxes, bws = [], [], [], [], []
    for _ in range(n):
        img, bx = scenes.crop(rng, CROP_H, CROP_W)
        hflip, vflip = rng.random() < 0.5, rng.random() < 0.5
        if hflip:
            img = img[:, ::-1]
        if vflip:
            img = img[::-1]
        bx = flip_boxes(bx, CROP_H, CROP_W, hflip, vflip)
        img = img.astype(np.float32) / 255.0
        # Light and white balance vary more on a real line than across 24 synthetic seeds.
        img = img * rng.uniform(0.75, 1.25) * rng.uniform(0.93, 1.07, size=3).astype(np.float32)
        img = np.clip(img, 0.0, 1.0)
        h, m, b, w = build_targets(bx, CROP_H, CROP_W)
        imgs.append(np.ascontiguousarray(img.transpose(2, 0, 1)))
        heats.append(h)
        masks.append(m)
        boxes.append(b)
        bws.append(w)
    t = lambda a: torch.from_numpy(np.stack(a))
    return t(imgs), t(heats), t(masks), t(boxes), t(bws)


def focal_loss(logits, heat, mask):
    """CenterNet focal loss on the object map (heat = max over the two labels)."""
    pos = (heat >= 1.0).float()
    p = torch.sigmoid(logits)
    pos_l = -F.logsigmoid(logits) * (1 - p) ** 2 * pos
    neg_l = -F.logsigmoid(-logits) * p**2 * (1 - heat) ** 4 * (1 - pos)
    return ((pos_l + neg_l) * mask).sum() / pos.sum().clamp(min=1.0)


def defect_loss(logits, heat, bw):
    """BCE of 'defective' on the cells around each fully visible part's centre (weights bw)."""
    target = (heat[:, 1] > heat[:, 0]).float()
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none", pos_weight=torch.tensor(2.0))
    return (bce * bw).sum() / bw.sum().clamp(min=1e-6)


def binary_kl(s_logits, t_logits, T):
    pt = torch.sigmoid(t_logits / T)
    return pt * (F.logsigmoid(t_logits / T) - F.logsigmoid(s_logits / T)) + (1 - pt) * (
        F.logsigmoid(-t_logits / T) - F.logsigmoid(-s_logits / T)
    )


def kd_loss(s_logits, t_logits, mask, bw, npos, T):
    """The seed's distillation loss on both class outputs: binary KL of the temperature-softened teacher and
    student probabilities (x T^2), for the object map over all cells and for 'defective' over part cells."""
    l_obj = (binary_kl(s_logits[:, 0], t_logits[:, 0], T) * mask).sum() / npos
    l_def = (binary_kl(s_logits[:, 1], t_logits[:, 1], T) * bw).sum() / bw.sum().clamp(min=1e-6)
    return (l_obj + l_def) * T * T


def box_loss(raw_box, tbox, bw):
    gh, gw = raw_box.shape[2:]
    gx, gy = grid(gh, gw)
    d = decode_boxes(raw_box, gx, gy)
    px1, py1 = d[:, 0] - d[:, 2] / 2, d[:, 1] - d[:, 3] / 2
    px2, py2 = d[:, 0] + d[:, 2] / 2, d[:, 1] + d[:, 3] / 2
    tx1, ty1, tx2, ty2 = tbox[:, 0], tbox[:, 1], tbox[:, 2], tbox[:, 3]
    iw = (torch.min(px2, tx2) - torch.max(px1, tx1)).clamp(min=0)
    ih = (torch.min(py2, ty2) - torch.max(py1, ty1)).clamp(min=0)
    inter = iw * ih
    union = (px2 - px1) * (py2 - py1) + (tx2 - tx1) * (ty2 - ty1) - inter
    iou = inter / union.clamp(min=1e-6)
    hull = (torch.max(px2, tx2) - torch.min(px1, tx1)) * (torch.max(py2, ty2) - torch.min(py1, ty1))
    giou = iou - (hull - union) / hull.clamp(min=1e-6)
    l1 = (torch.abs(px1 - tx1) + torch.abs(py1 - ty1) + torch.abs(px2 - tx2) + torch.abs(py2 - ty2)) / STRIDE
    wsum = bw.sum().clamp(min=1e-6)
    return ((1 - giou) * bw).sum() / wsum + 0.05 * (l1 * bw).sum() / wsum


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--width", type=float, required=True)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=4e-3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--every", type=int, default=2, help="use every n-th frame of the training scenes")
    ap.add_argument("--teacher", help="teacher checkpoint: train with distillation")
    ap.add_argument("--alpha", type=float, default=0.5)
    ap.add_argument("--temperature", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy machine)")
    ap.add_argument("--seeds", default="1-16", help="training scenes (whole clips, every --every-th frame used)")
    ap.add_argument("--sampled-seeds", default="2001-2600", help="training scenes rendered with --every 6 (all frames used)")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    lo, hi = (int(v) for v in a.seeds.split("-"))
    scenes = Scenes(a.data, range(lo, hi + 1), every=a.every)
    if a.sampled_seeds:
        lo, hi = (int(v) for v in a.sampled_seeds.split("-"))
        scenes.add(a.data, range(lo, hi + 1), every=1)
    model = Detector(a.width)
    teacher = None
    if a.teacher:
        ck = torch.load(a.teacher)
        teacher = Detector(ck["width"])
        teacher.load_state_dict(ck["state"])
        teacher.eval()
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=1e-4)
    warm = 50
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / a.steps)))
    )
    t0 = time.time()
    avg = {}
    model.train()
    for step in range(a.steps):
        x, heat, mask, tbox, bw = make_batch(scenes, rng, a.batch)
        logits, raw_box = model.raw(x)
        l_obj = focal_loss(logits[:, 0], heat.max(dim=1).values, mask)
        l_def = defect_loss(logits[:, 1], heat, bw)
        l_gt = l_obj + l_def
        l_box = box_loss(raw_box, tbox, bw)
        parts = {"obj": l_obj, "def": l_def, "box": l_box}
        if teacher is not None:
            with torch.no_grad():
                t_logits, _ = teacher.raw(x)
            npos = (heat >= 1.0).float().sum().clamp(min=1.0)
            l_kd = kd_loss(logits, t_logits, mask, bw, npos, a.temperature)
            parts["kd"] = l_kd
            loss = (1 - a.alpha) * l_gt + a.alpha * l_kd + l_box
        else:
            loss = l_gt + l_box
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        for k, v in parts.items():
            avg[k] = 0.98 * avg.get(k, float(v)) + 0.02 * float(v)
        if step % 50 == 0 or step == a.steps - 1:
            msg = " ".join(f"{k}={v:.4f}" for k, v in avg.items())
            print(f"step {step}/{a.steps} {msg} {time.time() - t0:.0f}s", flush=True)
    tmp = a.out + ".tmp"
    torch.save({"width": a.width, "state": model.state_dict(), "args": vars(a), "seconds": time.time() - t0}, tmp)
    os.replace(tmp, a.out)
    print(json.dumps({"saved": a.out, "seconds": round(time.time() - t0)}))


if __name__ == "__main__":
    main()
