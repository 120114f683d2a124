#!/bin/bash
# Evidence for docs/landscape.md: flat and sharp minima (Keskar et al. 2017). The default MLP
# (784-512-512-10, ReLU) trained with SGD (momentum 0.9, no weight decay, cosine schedule) at batch
# 32 and at batch 4096, the same budget of 10 epochs, on a 12000-image stratified subset of
# Fashion-MNIST (data.val_fraction=0.8 holds the other 48000 out as validation, to stay within
# minutes on 2 shared cores). The lr is tuned per batch size from a small grid by final
# validation accuracy. Then, for the chosen run of each batch size: the top Hessian eigenvalue and
# trace on 4096 training samples, Keskar's epsilon-sharpness (eps 1e-3), and a 25x25
# filter-normalised landscape on 2048 samples.
# Usage: experiments/landscape_batch.sh [build-dir] [out-dir]   (about 25 minutes on 2 shared cores, 1 thread)
set -euo pipefail
BUILD=$(realpath "${1:-build}")
OUT=${2:-runs/landscape_batch}
export OMP_WAIT_POLICY=passive
mkdir -p "$OUT"
COMMON=(--opt sgd --optim.momentum 0.9 --wd 0 --sched cosine --epochs 10 --data.val_fraction 0.8
  --threads 1 --progress none)
best_run() { # prints the run directory with the highest final val accuracy among "$@" (finished)
  for d in "$@"; do
    [ -f "$d/summary.json" ] || continue
    python3 -c "import json,sys; print(json.load(open(sys.argv[1]+'/summary.json')).get('val_acc', 0), sys.argv[1])" "$d"
  done | sort -g | tail -1 | cut -d' ' -f2
}
runs32=() runs4096=()
for lr in 0.01 0.03; do
  d="$OUT/b32-lr$lr"; runs32+=("$d")
  [ -f "$d/summary.json" ] || "$BUILD/descent" train "${COMMON[@]}" --batch 32 --lr $lr --warmup 100 --run-dir "$d" >/dev/null
done
for lr in 0.1 0.3 1.0; do # 1.0 diverges (NaN loss in epoch 7): the run is reported and skipped
  d="$OUT/b4096-lr$lr"; runs4096+=("$d")
  [ -f "$d/summary.json" ] || [ -f "$d/diverged" ] ||
    "$BUILD/descent" train "${COMMON[@]}" --batch 4096 --lr $lr --warmup 10 --run-dir "$d" >/dev/null ||
    touch "$d/diverged"
done
for d in "${runs32[@]}" "${runs4096[@]}"; do
  [ -f "$d/summary.json" ] || { echo "$d diverged"; continue; }
  python3 -c "import json,sys; s=json.load(open(sys.argv[1]+'/summary.json')); print(sys.argv[1], {k: s[k] for k in s if 'acc' in k or 'loss' in k})" "$d"
done
SB=$(best_run "${runs32[@]}") LB=$(best_run "${runs4096[@]}")
for d in "$SB" "$LB"; do
  echo "== $d"
  "$BUILD/descent" sharpness "$d" --samples 4096 --iterations 20 --k 3 --trace --epsilon 1e-3 --threads 1
  "$BUILD/descent" landscape "$d" --samples 2048 --grid 25 --threads 1 --progress none
  "$BUILD/descent" landscape "$d" --line --samples 2048 --threads 1
done
# the line between the two solutions (same seed, same initial weights): Keskar et al., Fig. 3
"$BUILD/descent" landscape "$SB" --line --from "$LB" --samples 2048 --threads 1 --out "$OUT/line_b4096_to_b32"
