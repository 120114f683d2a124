#!/usr/bin/python3
"""PyTorch side of the transformer benchmark (bench/bench_transformer.c): the same vit / gpt
(the models of tests/fixtures/gen_transformer.py: descent's architecture and names), the same
data order (i * 7919 mod N, contiguous batches), AdamW(lr 1e-3), one thread count per run.
Prints one JSON object.
  torch_transformer.py vit|gpt [steps=60] [threads=1]"""
import gzip
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures"))
import gen_transformer as gt  # noqa: E402

name = sys.argv[1] if len(sys.argv) > 1 else "vit"
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 60
threads = int(sys.argv[3]) if len(sys.argv) > 3 else 1
torch.set_num_threads(threads)
torch.manual_seed(0)


def idx(path, offset):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


if name == "gpt":
    T, B, d = 128, 64, "/usr/share/games/fortunes"
    text = b"".join(open(os.path.join(d, f), "rb").read() for f in sorted(os.listdir(d)) if "." not in f)
    chars = sorted(set(text))
    ids = np.frombuffer(bytes(chars.index(c) for c in text[: len(text) - int(0.2 * len(text))]), dtype=np.uint8)
    n = (len(ids) - 1) // T
    x = torch.from_numpy(np.stack([ids[i * T:i * T + T + 1] for i in range(n)]).astype(np.float32))
    y = torch.zeros(n)
    model = gt.GPT(128, 4, 4, 4, T, len(chars))
else:
    B, D = 128, "/usr/share/datasets/fashion-mnist"
    x = torch.from_numpy(idx(f"{D}/train-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28).astype(np.float32) / 255.0)
    y = torch.from_numpy(idx(f"{D}/train-labels-idx1-ubyte.gz", 8).astype(np.int64)).float()
    x = (x - x.mean()) / x.std()
    n = x.shape[0]
    model = gt.ViT(128, 4, 4, 4, 7, 28, 10, False)
order = torch.from_numpy((np.arange(n, dtype=np.int64) * 7919) % n)
x, y = x[order], y[order]
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
per_epoch = math.ceil(n / B)
done = 0
for s in range(steps + 3):
    if s == 3:
        t0, c0 = time.time(), time.process_time()
    i = (s % per_epoch) * B
    xb, yb = x[i:i + B], y[i:i + B]
    loss = model.loss(xb, yb).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if s >= 3:
        done += xb.shape[0]
t, c = time.time() - t0, time.process_time() - c0
out = {"model": name, "threads": threads, "batch": B, "steps": steps, "step_s": t / steps,
       "cpu_step_s": c / steps, "torch": torch.__version__}
if name == "gpt":
    out["tokens_per_s"], out["tokens_per_cpu_s"] = done * T / t, done * T / c
else:
    out["epoch_s"], out["epoch_cpu_s"] = t / steps * per_epoch, c / steps * per_epoch
print(json.dumps(out))
