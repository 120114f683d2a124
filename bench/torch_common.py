"""Shared by the PyTorch benchmark scripts: Fashion-MNIST as one float tensor and the timed
training epoch (the bench order taken once, then contiguous slices)."""
import gzip
import time

import numpy as np
import torch

DIR = "/usr/share/datasets/fashion-mnist"


def idx(path, offset):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def load(split, shape):
    """Images of split ("train", "t10k") as floats in [0, 1] of shape (N, *shape), and labels."""
    x = idx(f"{DIR}/{split}-images-idx3-ubyte.gz", 16).reshape(-1, *shape).astype(np.float32) / 255.0
    y = idx(f"{DIR}/{split}-labels-idx1-ubyte.gz", 8).astype(np.int64)
    return torch.from_numpy(x), torch.from_numpy(y)


def bench_order(n, total):
    """The first n indices of the fixed order i * 7919 mod total that the C benches use."""
    return torch.from_numpy((np.arange(n, dtype=np.int64) * 7919) % total)


def train_epoch(model, opt, lossf, x, y, order, batch=128):
    """One epoch over x[order] in contiguous batches; returns (seconds, last loss)."""
    t0 = time.perf_counter()
    xs, ys = x[order], y[order]  # shuffle once per epoch, then contiguous slices
    for s in range(0, len(order), batch):
        opt.zero_grad(set_to_none=True)
        loss = lossf(model(xs[s:s + batch]), ys[s:s + batch])
        loss.backward()
        opt.step()
    return time.perf_counter() - t0, float(loss)
