#!/bin/bash
# Large-batch recipes from the command line, one process (docs/distributed.md): gradient
# accumulation equals the large batch (no batch norm); the batch-size schedule grows the batch at
# its milestones (steps per epoch fall by the factor; the samples per epoch stay) and equals an
# accumulated run; sched.scale_lr=linear scales the lr by batch/base_batch; LARS without weight
# decay gets 1e-4 with a note, an explicit 0 a warning.
# Usage: bash test_cli_large_batch.sh <descent-cli>
set -u
CLI=${1:?usage: test_cli_large_batch.sh <descent-cli>}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export LSAN_OPTIONS="suppressions=$(pwd)/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
fail() { echo "FAIL: $*"; exit 1; }
CK="python3 $(pwd)/read_checkpoint.py"
run() { "$CLI" train --progress none "$@" > "$T/out" 2>&1 || { cat "$T/out"; fail "train $*"; }; }
A="--data digits --model.width 32 --epochs 2 --lr 3e-3 --warmup 5 --train.threads 1 --train.log_every 1000"

# accumulation: 4 x 12 == 48 (float summation order only)
run $A --batch 48 --run-dir "$T/big"
run $A --batch 12 --train.accumulate 4 --run-dir "$T/acc"
$CK close "$T/big/checkpoint.safetensors" "$T/acc/checkpoint.safetensors" 1e-5 1e-4 || fail "accumulation"
grep -q '"epoch":1,"step":30,' "$T/acc/metrics.jsonl" || fail "accumulated steps per epoch"

# batch schedule: 16 in epoch 1, 32 from epoch 2 (1438 samples: 90 then 45 steps)
run $A --batch 16 --train.batch_growth 1 --train.batch_factor 2 --run-dir "$T/grow"
grep -q '"epoch":1,"step":90,' "$T/grow/metrics.jsonl" || fail "batch schedule epoch 1"
grep -q '"epoch":2,"step":135,' "$T/grow/metrics.jsonl" || fail "batch schedule epoch 2"
"$CLI" train --progress none $A --batch 16 --train.batch_growth 1 --train.batch_factor 3 --train.batch_max 40 \
  --run-dir "$T/bad2" > "$T/out" 2>&1 && fail "a capped batch of 40 over micro-batches of 16 accepted"
grep -q "batch of 40 is not a multiple of the batch of 16" "$T/out" || { cat "$T/out"; fail "batch schedule message"; }

# linear scaling: batch 64 over base 32 doubles every lr of the curve
run $A --batch 32 --sched constant --warmup 0 --run-dir "$T/s1"
run $A --batch 64 --sched constant --warmup 0 --sched.scale_lr linear --sched.base_batch 32 --run-dir "$T/s2"
grep -q '"lr":0.003,' "$T/s1/metrics.jsonl" || fail "unscaled lr"
grep -q '"lr":0.006,' "$T/s2/metrics.jsonl" || fail "linear scaling: lr not 0.006"
run $A --batch 128 --sched constant --warmup 0 --sched.scale_lr sqrt --sched.base_batch 32 --run-dir "$T/s3"
grep -q '"lr":0.006,' "$T/s3/metrics.jsonl" || fail "sqrt scaling: lr not 0.006"

# LARS: an unset weight decay becomes 1e-4 (noted); an explicit 0 is warned about
run $A --batch 64 --opt lars --lr 0.5 --run-dir "$T/lars"
grep -q "using 1e-4" "$T/out" || { cat "$T/out"; fail "no LARS note"; }
run $A --batch 64 --opt lars --lr 0.5 --wd 0 --run-dir "$T/lars0"
grep -q "adapts no tensor" "$T/out" || { cat "$T/out"; fail "no LARS warning"; }
echo "ok: accumulation, batch schedule, lr scaling, LARS defaults"
