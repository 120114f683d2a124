#!/bin/bash
# Evidence (b) at 7x7: the setting of experiments/norm_batch.sh on 7x7 images (4x4 average
# pooling), where batch norm at batch 2 averages over few values per channel (98, 32 and 8 in the
# three stages), for batch, group, layer, instance and no normalization at batch sizes 2, 8, 32,
# 128, seeds 1-3. Prints one "result" line per run; docs/normalization.md has the means.
# Usage: experiments/norm_batch_7x7.sh [build-dir]   (about 3 minutes)
set -euo pipefail
BUILD=${1:-build}
export OMP_WAIT_POLICY=passive
cd "$(dirname "$0")/.."
for b in 2 8 32 128; do
  LR=$(awk -v b="$b" 'BEGIN {printf "%g", 0.1 * b / 32}')
  for n in batch group layer instance none; do
    for s in 1 2 3; do
      "$BUILD/norm_experiments" --model resnet --depth 1 --width 16 --norm "$n" --groups 4 \
        --batch "$b" --lr "$LR" --momentum 0.9 --downsample 4 --subset 6000 --test 2000 \
        --epochs 2 --seed "$s" --threads 1 | grep '^result' | sed "s/^result/result lr=$LR seed=$s/"
    done
  done
done
