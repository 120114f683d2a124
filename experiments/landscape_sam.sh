#!/bin/bash
# Evidence for docs/landscape.md: SGD against SAM at the same settings (Foret et al. 2021). The
# default MLP (784-512-512-10, ReLU), SGD with momentum 0.9, batch 32, lr 0.03 (the batch-32 lr of
# experiments/landscape_batch.sh), cosine schedule, 10 epochs on the same 12000-image subset of
# Fashion-MNIST, the same seed (same initial weights); SAM with rho 0.05 around the same optimizer.
# Then, for both: top Hessian eigenvalues and trace on 4096 training samples, Keskar's
# epsilon-sharpness (eps 1e-3), a 25x25 filter-normalised plane on 2048 samples (one colour
# scale for both) and the line between the two solutions.
# Usage: experiments/landscape_sam.sh [build-dir] [out-dir]   (46 minutes on 2 shared cores, 1 thread)
set -euo pipefail
BUILD=$(realpath "${1:-build}")
OUT=${2:-runs/landscape_sam}
export OMP_WAIT_POLICY=passive
mkdir -p "$OUT"
COMMON=(--opt sgd --optim.momentum 0.9 --wd 0 --sched cosine --epochs 10 --data.val_fraction 0.8
  --batch 32 --lr 0.03 --warmup 100 --threads 1 --progress none)
for arm in sgd sam; do
  d="$OUT/$arm"
  extra=()
  [ "$arm" = sam ] && extra=(--sam.rho 0.05)
  [ -f "$d/summary.json" ] || "$BUILD/descent" train "${COMMON[@]}" "${extra[@]}" --run-dir "$d" >/dev/null
  python3 -c "import json,sys; s=json.load(open(sys.argv[1]+'/summary.json')); print(sys.argv[1], {k: s[k] for k in s if 'acc' in k or 'loss' in k or k == 'seconds'})" "$d"
  "$BUILD/descent" sharpness "$d" --samples 4096 --iterations 20 --k 3 --trace --epsilon 1e-3 --threads 1
  "$BUILD/descent" landscape "$d" --samples 2048 --grid 25 --threads 1 --progress none
  "$BUILD/descent" landscape "$d" --replot --zrange -1,0.1
done
"$BUILD/descent" landscape "$OUT/sam" --line --from "$OUT/sgd" --samples 2048 --threads 1 --out "$OUT/line_sgd_to_sam"
