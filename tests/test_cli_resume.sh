#!/bin/bash
# Checkpoints and --resume: a run interrupted after one epoch and resumed ends with parameters,
# optimizer state and buffers byte-identical to the uninterrupted run (warm-up + cosine, dropout,
# augmentation); extending a finished run's epochs by resuming also matches a straight run. The
# checkpoints are read by tests/read_checkpoint.py with Python's json and struct modules only,
# and a checkpoint written by that script is evaluated by descent.
# Usage: bash test_cli_resume.sh <descent-cli>
set -u
CLI=${1:?usage: test_cli_resume.sh <descent-cli>}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# Under AddressSanitizer: ignore leaks inside PLplot's font and module libraries.
export LSAN_OPTIONS="suppressions=$(pwd)/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
fail() { echo "FAIL: $*"; exit 1; }
CK="python3 $(pwd)/read_checkpoint.py"
run() { "$CLI" train --progress none "$@" > "$T/out" 2>&1 || { cat "$T/out"; fail "train $*"; }; }

# 1. interrupted (train.stop_after) + resumed == straight; 8x8 digits with crop + flip
#    augmentation and dropout, so the loader's order and augmentation RNGs and the dropout RNG
#    must all be restored
A="--train.log_every 7 --data digits --model.width 32 --model.dropout 0.2 --data.crop_padding 1 --data.hflip true
   --batch 64 --lr 3e-3 --warmup 10 --epochs 3 --data.val_fraction 0.1"
run $A --run-dir "$T/straight"
run $A --run-dir "$T/split" --train.stop_after 1
grep -q "stopped after 1 epoch" "$T/out" || fail "stop_after did not stop"
$CK check "$T/split/checkpoint.safetensors" || fail "python cannot read the checkpoint"
$CK compare "$T/straight/checkpoint.safetensors" "$T/split/checkpoint.safetensors" > /dev/null \
  && fail "a 1-epoch checkpoint equals the 3-epoch one"
cp "$T/split/checkpoint.safetensors" "$T/epoch1.safetensors"
run --resume "$T/split" --run-dir "$T/fork"   # continue into another directory
cmp -s "$T/split/checkpoint.safetensors" "$T/epoch1.safetensors" || fail "a fork changed the original run"
run --resume "$T/split" --train.stop_after 1
run --resume "$T/split"
$CK compare "$T/straight/checkpoint.safetensors" "$T/fork/checkpoint.safetensors" || fail "forked run differs"
$CK compare "$T/straight/checkpoint.safetensors" "$T/split/checkpoint.safetensors" \
  || fail "resumed run differs from the uninterrupted run"
# the metrics match too (timings aside)
strip() { sed 's/,"seconds":[^}]*//; s/,"samples_per_s":[^}]*//' "$1"; }
[ "$(strip "$T/straight/metrics.jsonl")" = "$(strip "$T/split/metrics.jsonl")" ] || fail "epoch metrics differ"
# resuming a finished run does nothing and succeeds
run --resume "$T/split"
grep -q "nothing to do" "$T/out" || fail "resuming a complete run"

# optimizers with scalar state (NAdam's mu_product, schedule-free's weight sum and eval swap)
for opt in nadam schedulefree_adamw lion; do
  C="--data moons --data.n_train 300 --model.width 16 --batch 32 --opt $opt --lr 3e-3 --warmup 5 --epochs 2"
  run $C --run-dir "$T/$opt-a"
  run $C --run-dir "$T/$opt-b" --train.stop_after 1
  run --resume "$T/$opt-b"
  $CK compare "$T/$opt-a/checkpoint.safetensors" "$T/$opt-b/checkpoint.safetensors" || fail "$opt: resumed run differs"
done

# batch-norm running statistics (buffers) travel in the checkpoint too
N="--data digits --model.width 16 --model.norm batch --batch 64 --epochs 2"
run $N --run-dir "$T/bn-a"
run $N --run-dir "$T/bn-b" --train.stop_after 1
run --resume "$T/bn-b"
grep -q '"norm1.running_mean"' <(head -c 4000 "$T/bn-a/checkpoint.safetensors") || fail "no batch-norm buffers saved"
$CK compare "$T/bn-a/checkpoint.safetensors" "$T/bn-b/checkpoint.safetensors" || fail "batch-norm run differs"

# 2. extending a finished run (constant lr) == training the longer run at once
B="--data moons --model.width 16 --batch 32 --sched constant --warmup 0 --optim.name sgd --optim.momentum 0.9 --lr 0.05"
run $B --epochs 2 --run-dir "$T/long"
run $B --epochs 1 --run-dir "$T/short"
run --resume "$T/short" --epochs 2
$CK compare "$T/long/checkpoint.safetensors" "$T/short/checkpoint.safetensors" || fail "extended run differs"

# 3. a checkpoint written outside descent (Python) is read back: a zeroed head changes the
#    evaluation (zero head: uniform prediction, loss ln 2), the unchanged copy evaluates exactly as the original
$CK rewrite "$T/long/checkpoint.safetensors" "$T/same.safetensors" none 0 || fail "python rewrite"
$CK rewrite "$T/long/checkpoint.safetensors" "$T/w0.safetensors" head.weight 0 || fail "python rewrite"
$CK rewrite "$T/w0.safetensors" "$T/zero.safetensors" head.bias 0 || fail "python rewrite"
"$CLI" eval "$T/long" | sed 's/^[^:]*://' > "$T/e0" || fail "eval of the run"
"$CLI" eval "$T/same.safetensors" | sed 's/^[^:]*://' > "$T/e1" || fail "eval of the python copy"
"$CLI" eval "$T/zero.safetensors" | sed 's/^[^:]*://' > "$T/e2" || fail "eval of the python-modified copy"
cmp -s "$T/e0" "$T/e1" || fail "python copy evaluates differently: $(cat "$T/e0" "$T/e1")"
grep -q "loss 0.693147" "$T/e2" || fail "zero head should give loss ln 2: $(cat "$T/e2")"
echo "ok"
