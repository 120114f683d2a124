#!/usr/bin/env bash
# MLP benchmark, descent and PyTorch side by side in one invocation. Writes bench/results/mlp.json.
#   bash bench/mlp.sh [epochs]      (after a Release build in build/)
# PyTorch runs twice: with glibc's default allocator and with one that keeps its buffers
# (MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_, read by glibc at start-up); the ratio is against
# the faster of the two, PyTorch at its best.
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-3}
d1=$(./build/bench_mlp "$epochs" 1)
d2=$(./build/bench_mlp "$epochs" 2)
t=$(env -u MALLOC_MMAP_THRESHOLD_ -u MALLOC_TRIM_THRESHOLD_ /usr/bin/python3 bench/torch_mlp.py "$epochs")
tk=$(env MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=17179869184 /usr/bin/python3 bench/torch_mlp.py "$epochs")
mkdir -p bench/results
python3 - "$d1" "$d2" "$t" "$tk" > bench/results/mlp.json <<'PY'
import json, sys
d1, d2, t, tk = (json.loads(a) for a in sys.argv[1:5])
best = d1 if d1["epoch_s"] <= d2["epoch_s"] else d2
tbest = min(t["epoch_s"], tk["epoch_s"])
print(json.dumps({"descent_1thread": d1, "descent_2threads": d2, "descent_best_epoch_s": best["epoch_s"],
                  "torch": t, "torch_keep_allocator": tk, "torch_best_epoch_s": tbest,
                  "speedup_vs_torch_best": tbest / best["epoch_s"],
                  "achieved_gflops": best["achieved_gflops"], "sgemm_peak_gflops": best["sgemm_peak_gflops_2048"]}, indent=2))
PY
cat bench/results/mlp.json
