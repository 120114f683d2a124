#!/bin/bash
# Evidence for docs/beyond-erm.md: Fashion-MNIST, MLP 784-256-256-10, AdamW lr 1e-3 (cosine,
# 400 warm-up steps), batch 128, 6 epochs, seeds 1 2 3, one thread each; run one after another.
#   (a) 40% symmetric label noise: ERM, TERM t = -2, TERM t = -0.5, TERM annealed from t = 0 to
#       t = -2, SAM rho 0.05
#   (b) class imbalance 10 (exponential profile): ERM, hierarchical TERM (t 0 within classes,
#       t 1 across classes)
#   (c) robust regression (synthetic, 8 features, 20% of the training targets off by 5-10 sd):
#       MSE, TERM t = -1 on MSE, Huber (delta 1), L1; MLP width 64, batch 32, 30 epochs
# Each run is one `descent train` command; results land in runs/beyond-erm/<arm>-s<seed>/summary.json.
# Usage: experiments/beyond_erm.sh [build-dir]   (about 40 minutes on a busy 2-core machine)
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
common=(--data=fashion-mnist --model.width=256 --epochs=6 --threads=1 --progress=none)
run() { # name, seed, flags...
  local name="$1" seed="$2"; shift 2
  local dir="runs/beyond-erm/$name-s$seed"
  [ -f "$dir/summary.json" ] && return 0
  "$BUILD/descent" train "${common[@]}" --train.seed="$seed" "$@" --run-dir="$dir" > /dev/null
}
reg=(--data=regression --data.n_features=8 --data.outlier_fraction=0.2 --model.width=64 --epochs=30
     --train.batch_size=32)
for s in 1 2 3; do
  run reg-mse "$s" "${reg[@]}"
  run reg-term "$s" "${reg[@]}" --objective.name=tilted --objective.tilt=-1
  run reg-huber "$s" "${reg[@]}" --objective.loss=huber
  run reg-l1 "$s" "${reg[@]}" --objective.loss=l1
done
for s in 1 2 3; do
  run noise-erm "$s" --data.label_noise=0.4
  run noise-term "$s" --data.label_noise=0.4 --objective.name=tilted --objective.tilt=-2
  run noise-sam "$s" --data.label_noise=0.4 --sam.rho=0.05
  run noise-term05 "$s" --data.label_noise=0.4 --objective.name=tilted --objective.tilt=-0.5
  run noise-anneal "$s" --data.label_noise=0.4 --objective.name=tilted --objective.tilt=0 --objective.tilt_end=-2
  run imb-erm "$s" --data.imbalance=10
  run imb-hterm "$s" --data.imbalance=10 --objective.name=hierarchical --objective.tilt=0 --objective.group_tilt=1
done
