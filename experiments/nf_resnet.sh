#!/bin/bash
# Evidence (c): an 18-block NF-ResNet (6 BasicBlocks per stage, widths 16/32/64, scaled weight
# standardization, alpha 0.2 residuals with analytic beta, no normalization layer, adaptive
# gradient clipping lambda 0.04) against its BatchNorm twin (same blocks with conv-BN, no AGC) on
# 14x14 Fashion-MNIST (2x2 average pooling): first 8000 training images, 3 epochs, batch 64,
# SGD lr 0.05 momentum 0.9, evaluated on the first 5000 test images.
# One thread with passive waiting: on a shared, loaded machine OpenMP spin-waiting costs more
# than the second core gains.
# Usage: [SEED=1] experiments/nf_resnet.sh [build-dir]   (about 3 minutes)
set -euo pipefail
BUILD=${1:-build}
export OMP_WAIT_POLICY=passive
cd "$(dirname "$0")/.."
COMMON="--depth 6 --width 16 --batch 64 --lr 0.05 --momentum 0.9 --downsample 2 --subset 8000 \
  --test 5000 --epochs 3 --seed ${SEED:-1} --threads 1"
"$BUILD/norm_experiments" --model nf_resnet --alpha 0.2 --agc 0.04 $COMMON
"$BUILD/norm_experiments" --model resnet --norm batch $COMMON
