#!/bin/bash
# Evidence (a): a 50-layer tanh MLP (width 256) on Fashion-MNIST (first 20000 training images,
# one epoch, SGD lr 0.01 momentum 0.9, batch 128) at the mean-field critical sigma_w (sigma_b =
# 0.05) and at 0.5x and 2x of it. Same optimizer, lr, data order and seed for all three.
# One thread with passive waiting (on a shared, loaded machine OpenMP spin-waiting costs more than
# the second core gains).
# Usage: experiments/critical_init.sh [build-dir]   (about 1 minute)
set -euo pipefail
BUILD=${1:-build}
export OMP_WAIT_POLICY=passive
cd "$(dirname "$0")/.."
CRIT=$("$BUILD/descent" meanfield --act tanh --sigma-b 0.05 | awk '/sigma_w\*/ {print $3}')
echo "critical sigma_w for tanh, sigma_b 0.05: $CRIT"
for f in 0.5 1 2; do
  SW=$(awk -v c="$CRIT" -v f="$f" 'BEGIN {printf "%.6f", c * f}')
  "$BUILD/norm_experiments" --model mlp --act tanh --depth 50 --width 256 --init meanfield \
    --sigma-w "$SW" --sigma-b 0.05 --subset 20000 --test 5000 --epochs 1 --batch 128 \
    --lr 0.01 --momentum 0.9 --seed 1 --threads 1 | grep '^result' | sed "s/^result/result factor=$f/"
done
