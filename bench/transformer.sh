#!/usr/bin/env bash
# Transformer benchmark, descent and PyTorch side by side: vit epoch time on Fashion-MNIST
# (batch 128) and gpt training tokens/s (context 128, batch 64), each at 1 and 2 threads, with the
# peak RSS of every process (/usr/bin/time). Runs alternate descent / PyTorch `reps` times so both
# see the same machine load; the JSON keeps every run and the best of each side.
#   bash bench/transformer.sh [steps=40] [reps=2] [threads="1 2"]   (after a Release build in build/)
# Writes bench/results/transformer.json.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-40}
reps=${2:-2}
thread_counts=${3:-"1 2"}
# PyTorch at its best: glibc malloc without returning memory to the OS between steps
export MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=17179869184
out=$(mktemp)
trap 'rm -f "$out" "$out.t"' EXIT
for r in $(seq 1 "$reps"); do
  for model in vit gpt; do
    for th in $thread_counts; do
      for side in descent torch; do
        if [ $side = descent ]; then cmd=(./build/bench_transformer $model "$steps" $th)
        else cmd=(/usr/bin/python3 bench/torch_transformer.py $model "$steps" $th); fi
        j=$(OMP_NUM_THREADS=$th /usr/bin/time -f '%M' -o "$out.t" "${cmd[@]}")
        echo "{\"side\": \"$side\", \"rep\": $r, \"peak_rss_mb\": $(( $(tail -1 "$out.t") / 1024 )), \"run\": $j}" >> "$out"
        tail -1 "$out" >&2
      done
    done
  done
done
mkdir -p bench/results
python3 - "$out" "$steps" > bench/results/transformer.json <<'PY'
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
res = {"steps_per_run": int(sys.argv[2]), "runs": runs,
       "note": "the machine was shared with other jobs while measuring: single runs are noisy"}
# wall clock (what the issue asks) and CPU time (less disturbed by other jobs on the machine)
for m, key, better in (("vit", "epoch_s", min), ("gpt", "tokens_per_s", max),
                       ("vit", "epoch_cpu_s", min), ("gpt", "tokens_per_cpu_s", max)):
    for side in ("descent", "torch"):
        rs = [r for r in runs if r["side"] == side and r["run"]["model"] == m]
        best = better(rs, key=lambda r: r["run"][key])
        res[f"{m}_{side}_best_{key}"] = {key: best["run"][key], "threads": best["run"]["threads"]}
        res[f"{m}_{side}_peak_rss_mb"] = min(r["peak_rss_mb"] for r in rs)
    d, t = res[f"{m}_descent_best_{key}"][key], res[f"{m}_torch_best_{key}"][key]
    res[f"{m}_speedup_{key}"] = t / d if key.startswith("epoch") else d / t
    res[f"{m}_rss_ratio"] = res[f"{m}_descent_peak_rss_mb"] / res[f"{m}_torch_peak_rss_mb"]
print(json.dumps(res, indent=2))
PY
python3 - <<'PY'
import json
r = json.load(open("bench/results/transformer.json"))
for m, keys in (("vit", ("epoch_s", "epoch_cpu_s")), ("gpt", ("tokens_per_s", "tokens_per_cpu_s"))):
    for k in keys:
        print(m, k, "descent", r[f"{m}_descent_best_{k}"], "torch", r[f"{m}_torch_best_{k}"],
              "speedup %.2fx" % r[f"{m}_speedup_{k}"])
    print(m, "peak RSS MB: descent", r[f"{m}_descent_peak_rss_mb"], "torch", r[f"{m}_torch_peak_rss_mb"],
          "ratio %.2f" % r[f"{m}_rss_ratio"])
PY
