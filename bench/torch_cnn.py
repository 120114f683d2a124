#!/usr/bin/python3
"""PyTorch side of the conv benchmark (bench/cnn.sh): the models of bench_cnn.c, SGD momentum 0.9,
lr 0.01, batch 128, Fashion-MNIST. Data are held as one normalised float tensor (N, 1, 28, 28);
each epoch takes the fixed order i * 7919 mod N (as the C bench) once and then contiguous slices.
Only the training loop is timed (wall clock, and process CPU seconds); evaluation of the test set (batch 128, no_grad, eval mode) is
timed apart. Each thread count given is run in turn and the fastest kept. The allocator is chosen
by the caller through the environment (MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_), since
glibc reads it at start-up. Prints one JSON object.

  /usr/bin/python3 bench/torch_cnn.py MODEL [--epochs 1] [--threads 1,2] [--steps 0]
  MODEL: cnn (no norm), cnn_bn (batch norm), resnet (width 16, one BasicBlock per stage, BN)
"""
import argparse
import json
import os
import time

import torch
from torch import nn

from torch_common import bench_order, load, train_epoch


def cnn(bn, width=32):
    layers, c = [], 1
    for i in range(2):
        o = width << i
        layers += [nn.Conv2d(c, o, 3, padding=1, bias=not bn)]
        layers += [nn.BatchNorm2d(o)] if bn else []
        layers += [nn.ReLU(), nn.MaxPool2d(2)]
        c = o
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * 7 * 7, 4 * width), nn.ReLU(),
                         nn.Linear(4 * width, 10))


class BasicBlock(nn.Module):
    """act(bn2(conv2(act(bn1(conv1(x))))) + shortcut(x)), as src/nn/models.c builds it."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        h = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(h)) + self.shortcut(x))


def resnet(width=16):
    return nn.Sequential(nn.Conv2d(1, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                         BasicBlock(width, width, 1), BasicBlock(width, 2 * width, 2),
                         BasicBlock(2 * width, 4 * width, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4 * width, 10))


MODELS = {"cnn": lambda: cnn(False), "cnn_bn": lambda: cnn(True), "resnet": resnet}


def run(name, threads, epochs, steps, data):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x, y, xt, yt = data
    n = x.shape[0] if steps <= 0 else min(x.shape[0], steps * 128)
    order = bench_order(n, x.shape[0])
    model = MODELS[name]()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    lossf = nn.CrossEntropyLoss()
    times, cpu = [], []
    for _ in range(epochs):
        model.train()
        c0 = time.process_time()
        t, loss = train_epoch(model, opt, lossf, x, y, order)
        cpu.append(time.process_time() - c0)
        times.append(t)
    model.eval()
    nt = xt.shape[0] if steps <= 0 else min(xt.shape[0], steps * 128)
    t0 = time.perf_counter()
    correct = 0
    with torch.no_grad():
        for s in range(0, nt, 128):
            correct += int((model(xt[s:s + 128]).argmax(1) == yt[s:s + 128]).sum())
    eval_s = time.perf_counter() - t0
    times.sort()
    cpu.sort()
    return {"threads": threads, "epoch_s": times[(len(times) - 1) // 2], "epoch_s_min": times[0],
            "epoch_s_max": times[-1], "epoch_cpu_s": cpu[(len(cpu) - 1) // 2], "eval_s": eval_s, "final_train_loss": loss,
            "test_acc": correct / nt}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", choices=sorted(MODELS))
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", default="1,2", help="thread counts to try, the fastest is kept")
    ap.add_argument("--steps", type=int, default=0, help="steps per epoch (0: whole epochs)")
    args = ap.parse_args()
    x, y = load("train", (1, 28, 28))
    xt, yt = load("t10k", (1, 28, 28))
    mean, std = x.mean(), x.std()
    data = ((x - mean) / std, y, (xt - mean) / std, yt)
    runs = [run(args.model, int(t), args.epochs, args.steps, data) for t in args.threads.split(",")]
    best = min(runs, key=lambda r: r["epoch_s"])
    allocator = "keep" if os.environ.get("MALLOC_MMAP_THRESHOLD_") else "glibc-default"
    print(json.dumps({"model": args.model, "torch_version": torch.__version__, "allocator": allocator,
                      "runs": runs, "best_threads": best["threads"], "epoch_s": best["epoch_s"],
                      "eval_s": best["eval_s"]}))


if __name__ == "__main__":
    main()
