#!/usr/bin/env python3
"""The `descent train` demo run in PyTorch 1.13, for time and peak-memory comparison:
MLP 784-512-512-10 (ReLU) on Fashion-MNIST, inputs standardised with the training mean/std,
AdamW(lr 1e-3, weight_decay 0.01 (its default) on weights only, as descent excludes biases), batch 128 with a
new shuffle every epoch, 12 epochs, lr: linear warm-up over 400 steps from 0.01 lr, then cosine
to 0 over the remaining steps (stepped per batch); test loss/accuracy after every epoch.

  /usr/bin/time -v /usr/bin/python3 bench/torch_train_mlp.py [--threads 1] [--epochs 12]
"""
import argparse
import gzip
import math
import struct
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def load_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic = struct.unpack(">I", raw[:4])[0]
    rank = magic & 0xFF
    dims = struct.unpack(">" + "I" * rank, raw[4:4 + 4 * rank])
    data = torch.frombuffer(bytearray(raw[4 + 4 * rank:]), dtype=torch.uint8)
    return data.reshape(dims)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--threads", type=int, default=1, help="1 is PyTorch's fastest for this MLP here")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--warmup", type=int, default=400)
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    t0 = time.time()
    xtr = load_idx(f"{a.data}/train-images-idx3-ubyte.gz").reshape(-1, 784).float() / 255
    ytr = load_idx(f"{a.data}/train-labels-idx1-ubyte.gz").long()
    xte = load_idx(f"{a.data}/t10k-images-idx3-ubyte.gz").reshape(-1, 784).float() / 255
    yte = load_idx(f"{a.data}/t10k-labels-idx1-ubyte.gz").long()
    mean, std = xtr.mean().item(), xtr.std(unbiased=False).item()
    xtr = (xtr - mean) / std
    xte = (xte - mean) / std

    model = nn.Sequential(nn.Linear(784, a.width), nn.ReLU(), nn.Linear(a.width, a.width), nn.ReLU(),
                          nn.Linear(a.width, 10))
    decay = [p for n, p in model.named_parameters() if n.endswith("weight")]
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias")]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=a.lr)
    steps_per_epoch = math.ceil(len(xtr) / a.batch)
    total = steps_per_epoch * a.epochs
    warm = torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.01, total_iters=a.warmup)
    cos = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, total - a.warmup))
    sched = torch.optim.lr_scheduler.SequentialLR(opt, [warm, cos], milestones=[a.warmup])

    t_train = time.time()
    for epoch in range(a.epochs):
        te = time.time()
        model.train()
        perm = torch.randperm(len(xtr))
        xs, ys = xtr[perm], ytr[perm]
        loss_sum = 0.0
        for i in range(0, len(xs), a.batch):
            xb, yb = xs[i:i + a.batch], ys[i:i + a.batch]
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(xb)
        model.eval()
        with torch.no_grad():
            out = model(xte)
            test_loss = F.cross_entropy(out, yte).item()
            acc = (out.argmax(1) == yte).float().mean().item()
        print(f"epoch {epoch + 1}/{a.epochs}  train loss {loss_sum / len(xs):.4f}  "
              f"test loss {test_loss:.4f} acc {100 * acc:.2f}%  {time.time() - te:.1f} s", flush=True)
    print(f"training {time.time() - t_train:.1f} s, total {time.time() - t0:.1f} s, "
          f"{a.threads} thread(s), torch {torch.__version__}")


if __name__ == "__main__":
    main()
