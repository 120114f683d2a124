#!/usr/bin/env bash
# Integration: the first end-to-end example trains an MLP with plain SGD on a 10k-sample subset of
# Fashion-MNIST for 2 epochs; the training loss must drop and test accuracy reach a floor.
# $1: path of the descent CLI; the example program sits beside it.
set -euo pipefail
exe="$(dirname "$1")/mlp_fashion"
out=$("$exe" --subset 10000 --epochs 2 --batch 128 --lr 0.1 --seed 1)
echo "$out"
last=$(echo "$out" | tail -n 1)
python3 - "$last" <<'PY'
import sys
f = dict(kv.split("=") for kv in sys.argv[1].split()[1:])
acc, first, last = float(f["test_acc"]), float(f["train_loss_first"]), float(f["train_loss_last"])
# 10k samples x 2 epochs of SGD reach about 0.80 here; 0.75 leaves room for seeds and threads.
assert acc >= 0.75, f"test accuracy {acc} below the 0.75 floor"
assert last < 0.5 * first, f"training loss did not drop enough: {first} -> {last}"
print(f"ok: test_acc {acc}, loss {first:.3f} -> {last:.3f}")
PY
