#!/bin/bash
# Evidence (b), seed spread: batch norm against group norm at batch 2 and 32 with the settings of
# experiments/norm_batch.sh, over seeds 1, 2, 3 (initialisation and data order), to tell a
# difference from run-to-run noise.
# Usage: experiments/norm_batch_seeds.sh [build-dir]   (about 3 minutes)
set -euo pipefail
BUILD=${1:-build}
export OMP_WAIT_POLICY=passive
cd "$(dirname "$0")/.."
for b in 2 32; do
  LR=$(awk -v b="$b" 'BEGIN {printf "%g", 0.1 * b / 32}')
  for n in batch group; do
    for s in 1 2 3; do
      "$BUILD/norm_experiments" --model resnet --depth 1 --width 16 --norm "$n" --groups 4 \
        --batch "$b" --lr "$LR" --momentum 0.9 --downsample 2 --subset 6000 --test 2000 \
        --epochs 2 --seed "$s" --threads 1 | grep '^result' | sed "s/^result/result lr=$LR seed=$s/"
    done
  done
done
