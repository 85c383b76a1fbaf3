"""Trains the field model: a teacher (width 2) on the truth alone, then the shipped student (width 0.75)
distilled from it (per cell, binary KL between the teacher's and the student's sigmoid outputs softened by T,
times T^2, mixed with the truth loss by alpha). Colour, brightness and noise jitter on top of the scenes' own
daylight cycle; horizontal flips (the cell labels flip with the picture).

/usr/bin/python3 scripts/train/field/train.py --data DATA --out teacher.pt --width 2
/usr/bin/python3 scripts/train/field/train.py --data DATA --out student.pt --width 0.75 --teacher teacher.pt
"""
import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from common import FieldNet, cell_targets, load_scene, seeds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--seeds", default="1-48")
    ap.add_argument("--out", required=True)
    ap.add_argument("--width", type=float, default=0.75)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=4e-3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--teacher")
    ap.add_argument("--alpha", type=float, default=0.5)
    ap.add_argument("--temperature", type=float, default=2.0)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(1)
    rng = np.random.default_rng(a.seed)

    xs, ys = [], []
    for s in seeds(a.seeds):
        frames, truth = load_scene(a.data, s)
        xs.append(frames)
        ys.append(cell_targets(truth))
    X = np.concatenate(xs)
    Y = torch.from_numpy(np.concatenate(ys))
    print(f"{len(X)} frames from {len(xs)} scenes", flush=True)

    net = FieldNet(a.width)
    teacher = None
    if a.teacher:
        ck = torch.load(a.teacher)
        teacher = FieldNet(ck["width"])
        teacher.load_state_dict(ck["state"])
        teacher.eval()
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=a.steps, pct_start=0.1)
    pos_weight = torch.tensor([1.0, 2.0, 2.0]).view(1, 3, 1, 1)
    t0 = time.time()
    for step in range(a.steps):
        idx = rng.integers(0, len(X), a.batch)
        x = torch.from_numpy(X[idx]).float().permute(0, 3, 1, 2) / 255.0
        y = Y[idx].clone()
        # Jitter: overall gain, white balance, offset, sensor noise.
        gain = torch.from_numpy(rng.uniform(0.6, 1.4, (a.batch, 1, 1, 1))).float()
        wb = torch.from_numpy(rng.uniform(0.85, 1.15, (a.batch, 3, 1, 1))).float()
        off = torch.from_numpy(rng.uniform(-0.08, 0.08, (a.batch, 1, 1, 1))).float()
        x = (x * gain * wb + off + torch.randn_like(x) * 0.02).clamp(0, 1)
        flip = torch.from_numpy(rng.random(a.batch) < 0.5)
        x[flip] = x[flip].flip(-1)
        y[flip] = y[flip].flip(-1)
        logits = net(x)
        loss = F.binary_cross_entropy_with_logits(logits, y, pos_weight=pos_weight)
        if teacher is not None:
            with torch.no_grad():
                soft = torch.sigmoid(teacher(x) / a.temperature)
            kd = F.binary_cross_entropy_with_logits(logits / a.temperature, soft) - F.binary_cross_entropy(soft, soft)
            loss = (1 - a.alpha) * loss + a.alpha * kd * a.temperature**2
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == a.steps - 1:
            print(f"step {step} loss {loss.item():.4f} {time.time() - t0:.0f}s", flush=True)
    params = sum(p.numel() for p in net.parameters())
    torch.save({"width": a.width, "state": net.state_dict(), "params": params, "args": vars(a)}, a.out)
    print(f"saved {a.out}: {params} parameters, {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
