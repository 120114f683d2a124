#!/usr/bin/env bash
# Evidence for docs/transformers.md, small enough for a 2-core machine in minutes:
#   gpt: AdamW vs Lion vs Muon vs LAMB at equal steps on two fortune files (context 64, width 64,
#        depth 2), each at one lr from its usual range; test bits per character; curves; a sample.
#   vit vs cnn on 8x8 digits: AdamW vs Adam with L2 vs SGD-momentum, each at the better of two lrs.
#   bash experiments/transformers.sh [gpt|vision|all]   (after a Release build in build/)
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
D=./build/descent
R=runs/transformers
mkdir -p "$R" docs/figures
F=/usr/share/games/fortunes
if [ "$what" = gpt ] || [ "$what" = all ]; then
  for spec in adamw:3e-3 lion:3e-4 muon:0.02 lamb:1e-2; do
    opt=${spec%%:*} lr=${spec#*:}
    extra=""
    [ "$opt" = muon ] && extra="--optim.adam_lr 3e-3"
    $D train --data text --data.path "$F/computers,$F/science" --data.context 64 --model gpt \
      --model.width 64 --model.depth 2 --batch 64 --epochs 3 --warmup 20 --optim "$opt" --lr "$lr" $extra \
      --threads 1 --progress none --train.log_every 10 --run-dir "$R/gpt-$opt" > "$R/gpt-$opt.log"
    tail -2 "$R/gpt-$opt.log"
  done
  $D plot "$R"/gpt-adamw "$R"/gpt-lion "$R"/gpt-muon "$R"/gpt-lamb --out docs/figures/transformers_gpt_race
  $D sample "$R/gpt-adamw" --prompt "The computer " --tokens 300 --seed 1 --temperature 0.8 \
    --threads 1 > "$R/gpt-adamw.sample.txt"
fi
if [ "$what" = vision ] || [ "$what" = all ]; then
  for model in vit cnn; do
    for spec in adamw:1e-3 adamw:3e-3 adam:1e-3 adam:3e-3 sgd:0.03 sgd:0.1; do
      opt=${spec%%:*} lr=${spec#*:}
      extra="--optim.weight_decay 0.05"
      [ "$opt" = adam ] && extra="--optim.weight_decay 5e-4"  # L2 in the gradient
      [ "$opt" = sgd ] && extra="--optim.momentum 0.9 --optim.weight_decay 5e-4"
      [ "$model" = vit ] && extra="$extra --model.patch 4 --model.width 64 --model.depth 2"
      [ "$model" = cnn ] && extra="$extra --model.width 16"
      $D train --data digits --model "$model" --batch 64 --epochs 30 --warmup 40 --optim "$opt" --lr "$lr" \
        $extra --threads 1 --progress none --run-dir "$R/$model-$opt-$lr" > "$R/$model-$opt-$lr.log"
      grep "^epoch" "$R/$model-$opt-$lr.log" | tail -1
    done
  done
fi
