#!/bin/bash
# Throughput of data parallelism on this machine (docs/distributed.md): training samples/s of the
# CNN and the default MLP on Fashion-MNIST, np=1 x 2 threads, np=2 x 1 thread, np=1 x 1 thread,
# each run back to back REPS times (default 3) for SECONDS of training (default 30; the rate is the
# fit's running samples/s at its last metrics record, evaluation excluded), and the share of the
# time the ranks wait for the gradient allreduce (not overlapped with backward). Writes
# bench/results/dist.json with every run and the medians.
#   bash bench/dist.sh [REPS] [SECONDS]
set -u
cd "$(dirname "$0")/.."
REPS=${1:-3}
SECS=${2:-30}
CLI=build/descent
MPI="mpirun --allow-run-as-root --oversubscribe"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
out=bench/results/dist.json
rows=()
last() { grep '"kind":"step"' "$1/metrics.jsonl" | tail -1; }
field() { sed -n "s/.*\"$2\":\([0-9.e+-]*\).*/\1/p" <<< "$1"; }
for model in cnn mlp; do
  for cfg in "1 2" "2 1" "1 1"; do
    set -- $cfg
    np=$1 th=$2
    for r in $(seq "$REPS"); do
      d="$T/$model-$np-$th-$r"
      A="--model $model --epochs 1 --progress none --train.threads $th --train.log_every 20 --run-dir $d"
      if [ "$np" = 1 ]; then timeout -s KILL "$SECS" $CLI train $A > /dev/null 2>&1
      else timeout -s KILL "$SECS" $MPI -np "$np" $CLI train $A > /dev/null 2>&1; fi
      rec=$(last "$d")
      sps=$(field "$rec" samples_per_s)
      share=$(field "$rec" allreduce_wait_share)
      echo "$model np=$np x $th thread(s) run $r: ${sps:-?} samples/s, allreduce wait share ${share:--}"
      rows+=("{\"model\":\"$model\",\"np\":$np,\"threads\":$th,\"run\":$r,\"samples_per_s\":${sps:-null},\"allreduce_wait_share\":${share:-null}}")
    done
  done
done
python3 - "$out" "${rows[@]}" <<'PY'
import json, os, statistics, sys
out, rows = sys.argv[1], [json.loads(r) for r in sys.argv[2:]]
med = {}
for r in rows:
    key = f"{r['model']} np={r['np']}x{r['threads']}"
    med.setdefault(key, {"sps": [], "share": []})
    if r["samples_per_s"] is not None:
        med[key]["sps"].append(r["samples_per_s"])
    if r["allreduce_wait_share"] is not None:
        med[key]["share"].append(r["allreduce_wait_share"])
summary = {k: {"median_samples_per_s": statistics.median(v["sps"]) if v["sps"] else None,
               "median_allreduce_wait_share": statistics.median(v["share"]) if v["share"] else None}
           for k, v in med.items()}
for m in ("cnn", "mlp"):
    a, b = summary.get(f"{m} np=2x1"), summary.get(f"{m} np=1x1")
    if a and b and a["median_samples_per_s"] and b["median_samples_per_s"]:
        summary[f"{m} speed-up np=2x1 / np=1x1"] = a["median_samples_per_s"] / b["median_samples_per_s"]
tmp = out + ".tmp"
with open(tmp, "w") as f:
    json.dump({"runs": rows, "summary": summary, "load_average": os.getloadavg()}, f, indent=1)
os.replace(tmp, out)
print(json.dumps(summary, indent=1))
PY
