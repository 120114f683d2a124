#!/usr/bin/python3
"""PyTorch side of the MLP benchmark: MLP 784-256-256-10 (ReLU), SGD momentum 0.9, batch 128,
Fashion-MNIST, at PyTorch's best setting (1 and 2 threads tried, the faster kept). Data are held
as one normalised float tensor; each epoch takes the same fixed order (i * 7919 mod N, as the C
bench) once and then contiguous slices. Prints one JSON object."""
import json, sys
import torch

from torch_common import bench_order, load, train_epoch

EPOCHS = int(sys.argv[1]) if len(sys.argv) > 1 else 3


def run(threads):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x, y = load("train", (784,))
    x = (x - x.mean()) / x.std()
    n = x.shape[0]
    order = bench_order(n, n)
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256),
                                torch.nn.ReLU(), torch.nn.Linear(256, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    lossf = torch.nn.CrossEntropyLoss()
    times = []
    for _ in range(EPOCHS):
        t, loss = train_epoch(model, opt, lossf, x, y, order)
        times.append(t)
    return min(times), loss


res = {}
for t in (1, 2):
    res[t] = run(t)
best = min(res, key=lambda t: res[t][0])
print(json.dumps({"torch_version": torch.__version__, "epoch_s_1thread": res[1][0], "epoch_s_2threads": res[2][0],
                  "best_threads": best, "epoch_s": res[best][0], "final_loss": res[best][1]}))
