#!/usr/bin/python3
"""PyTorch side of the MLP benchmark: MLP 784-256-256-10 (ReLU), SGD momentum 0.9, batch 128,
Fashion-MNIST, at PyTorch's best setting (1 and 2 threads tried, the faster kept). Data are held
as one normalised float tensor; each epoch takes the same fixed order (i * 7919 mod N, as the C
bench) once and then contiguous slices. Prints one JSON object."""
import gzip, json, sys, time
import numpy as np
import torch

DIR = "/usr/share/datasets/fashion-mnist"
EPOCHS = int(sys.argv[1]) if len(sys.argv) > 1 else 3


def idx(path, offset):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def run(threads):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x = torch.from_numpy(idx(f"{DIR}/train-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255.0)
    y = torch.from_numpy(idx(f"{DIR}/train-labels-idx1-ubyte.gz", 8).astype(np.int64))
    x = (x - x.mean()) / x.std()
    n = x.shape[0]
    order = torch.from_numpy((np.arange(n, dtype=np.int64) * 7919) % n)
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256),
                                torch.nn.ReLU(), torch.nn.Linear(256, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    lossf = torch.nn.CrossEntropyLoss()
    times = []
    for _ in range(EPOCHS):
        t0 = time.perf_counter()
        xs, ys = x[order], y[order]  # shuffle once per epoch, then contiguous slices
        for s in range(0, n, 128):
            opt.zero_grad(set_to_none=True)
            loss = lossf(model(xs[s:s + 128]), ys[s:s + 128])
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    return min(times), float(loss)


res = {}
for t in (1, 2):
    res[t] = run(t)
best = min(res, key=lambda t: res[t][0])
print(json.dumps({"torch_version": torch.__version__, "epoch_s_1thread": res[1][0], "epoch_s_2threads": res[2][0],
                  "best_threads": best, "epoch_s": res[best][0], "final_loss": res[best][1]}))
