#!/usr/bin/env bash
# Draws docs/figures/experiment-NAME.png from `descent experiment NAME --out RESULTS/NAME` runs: the
# training curves of up to 8 trained arms (seed 1), labelled by arm (for adam-cnn: each optimizer at
# its best lr of the grid).   usage: experiments/experiment_figures.sh RESULTS [descent]
set -euo pipefail
results=$1
cli=${2:-build/descent}
out=docs/figures
for d in "$results"/*/; do
  name=$(basename "$d")
  [ -f "$d/results.json" ] || continue
  arms=$(python3 - "$d/results.json" "$name" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
trained = [a for a in r.get("curves", {})]
if sys.argv[2] == "adam-cnn":  # the best lr of each optimizer's grid
    best = {}
    for a in trained:
        opt = a.split("@")[0]
        v = [x for x in r["arms"][a].get("train_loss", []) if x is not None]
        m = sum(v) / len(v) if v else float("inf")
        if opt not in best or m < best[opt][0]:
            best[opt] = (m, a)
    trained = [a for _, a in best.values()]
if sys.argv[2] == "gpt-race":  # each optimizer at its best lr (lowest test loss)
    best = {}
    for a in trained:
        opt = a.split("@")[0]
        v = [x for x in r["arms"][a].get("test_loss", []) if x is not None]
        m = sum(v) / len(v) if v else float("inf")
        if opt not in best or m < best[opt][0]:
            best[opt] = (m, a)
    trained = [a for _, a in best.values()]
if sys.argv[2] == "vit-sam":  # AdamW without and with SAM on both models, at the better lr
    best = {}
    for a in trained:
        key = a.split("@")[0]
        if key.split("/")[1] not in ("adamw", "adamw+sam"):
            continue
        v = [x for x in r["arms"][a].get("test_acc", []) if x is not None]
        m = sum(v) / len(v) if v else -1.0
        if key not in best or m > best[key][0]:
            best[key] = (m, a)
    trained = [a for _, a in best.values()]
print(" ".join(trained[:8]))
PY
)
  [ -n "$arms" ] || continue
  tmp=$(mktemp -d)
  for a in $arms; do grep -q "\"kind\":\"epoch\"" "$d/$a/seed-1/metrics.jsonl" 2>/dev/null && ln -s "$(cd "$d/$a/seed-1" && pwd)" "$tmp/${a//\//:}"; done
  dirs=$(ls -d "$tmp"/* 2>/dev/null || true)
  [ -n "$dirs" ] && "$cli" plot $dirs --out "$out/experiment-$name" > /dev/null && rm -f "$out/experiment-$name.svg"
  rm -rf "$tmp"
done
