#!/bin/bash
# Evidence (b): a small ResNet (3 BasicBlocks, widths 16/32/64, 14x14 Fashion-MNIST images from
# 2x2 average pooling) with batch, group (4 groups), layer, instance or no normalization, trained
# at batch sizes 2, 8, 32 and 128: first 3000 training images, 2 epochs, SGD momentum 0.9 with the
# learning rate scaled linearly with the batch (0.1 at batch 32, Goyal et al. 2017), evaluated on
# the first 2000 test images in eval mode (batch norm uses its running statistics).
# One thread with passive waiting (on a shared, loaded machine OpenMP spin-waiting costs more than
# the second core gains).
# Usage: experiments/norm_batch.sh [build-dir]   (about 4 minutes)
set -euo pipefail
BUILD=${1:-build}
export OMP_WAIT_POLICY=passive
cd "$(dirname "$0")/.."
for b in 2 8 32 128; do
  LR=$(awk -v b="$b" 'BEGIN {printf "%g", 0.1 * b / 32}')
  for n in batch group layer instance none; do
    "$BUILD/norm_experiments" --model resnet --depth 1 --width 16 --norm "$n" --groups 4 \
      --batch "$b" --lr "$LR" --momentum 0.9 --downsample 2 --subset 6000 --test 2000 \
      --epochs 2 --seed 1 --threads 1 | grep '^result' | sed "s/^result/result lr=$LR/"
  done
done
