#!/usr/bin/env bash
# MLP benchmark, descent and PyTorch side by side in one invocation. Writes bench/results/mlp.json.
#   bash bench/mlp.sh [epochs]      (after a Release build in build/)
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-3}
d1=$(./build/bench_mlp "$epochs" 1)
d2=$(./build/bench_mlp "$epochs" 2)
t=$(/usr/bin/python3 bench/torch_mlp.py "$epochs")
mkdir -p bench/results
python3 - "$d1" "$d2" "$t" > bench/results/mlp.json <<'PY'
import json, sys
d1, d2, t = (json.loads(a) for a in sys.argv[1:4])
best = d1 if d1["epoch_s"] <= d2["epoch_s"] else d2
print(json.dumps({"descent_1thread": d1, "descent_2threads": d2, "descent_best_epoch_s": best["epoch_s"],
                  "torch": t, "speedup_vs_torch_best": t["epoch_s"] / best["epoch_s"],
                  "achieved_gflops": best["achieved_gflops"], "sgemm_peak_gflops": best["sgemm_peak_gflops_2048"]}, indent=2))
PY
cat bench/results/mlp.json
