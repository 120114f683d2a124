#!/bin/bash
# Data parallelism under mpirun (docs/distributed.md): K = 2 and K = 3 processes train the same
# parameters as one process with the same global batch, seed and settings (augmentation, AdamW,
# warm-up + cosine) within float reduction-order tolerance; so does gradient accumulation; a
# checkpoint written with K = 2 resumes with K = 3; a rank SIGKILLed mid-run stops the job within
# 60 s with a message naming it, the last checkpoint stays loadable and --resume continues; an Inf
# loss on one rank stops every rank; a global batch not divisible by K and settings that differ
# between ranks are refused; SAM, ASAM and m-sharpness (also with accumulation) equal K = 1; the
# sharded evaluation reports K = 1's results. Skipped (exit 77) when descent is built without MPI.
# Usage: bash test_cli_dist.sh <descent-cli>   (DS_MPIEXEC: the mpirun to use)
set -u
CLI=${1:?usage: test_cli_dist.sh <descent-cli>}
if [ -z "${DS_MPIEXEC:-}" ]; then
  echo "SKIP: descent was built without MPI (DESCENT_MPI off or Open MPI not installed)"
  exit 77
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export LSAN_OPTIONS="suppressions=$(pwd)/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
fail() { echo "FAIL: $*"; exit 1; }
CK="python3 $(pwd)/read_checkpoint.py"
# Under AddressSanitizer, Open MPI's own allocations (from components it dlopens and unloads, so
# their frames cannot be named in a suppression) are reported as leaks at exit: the ranks log leaks
# to files instead of failing, and the test fails on any leak with a frame in descent's sources.
MPI="$DS_MPIEXEC --allow-run-as-root --oversubscribe -x LSAN_OPTIONS=exitcode=0:log_path=$T/lsan"
SRC=$(cd .. && pwd)
own_leaks() {
  ls "$T"/lsan.* > /dev/null 2>&1 || return 1
  grep -l -E "$SRC/(src|cli)/" "$T"/lsan.* 2> /dev/null | head -1 | grep -q .
}
run1() { "$CLI" train --progress none "$@" > "$T/out" 2>&1 || { cat "$T/out"; fail "train $*"; }; }
runk() { local k=$1; shift; timeout 300 $MPI -np "$k" "$CLI" train --progress none "$@" > "$T/out" 2>&1 \
           || { cat "$T/out"; fail "mpirun -np $k train $*"; }; }
# Tolerance: float sums in another order (per-rank partial sums, then the allreduce) drift by a
# few ulps per step; 60 Adam steps keep every parameter within 1e-5 + 1e-4 |p|.
close() { $CK close "$1" "$2" 1e-5 1e-4 || fail "$3"; }

# 1. K = 1, 2, 3: the same parameters (batch 48 divisible by 2 and 3; 1438 samples: a partial
#    last batch of 46 split 23/23 and 15/15/16)
A="--data digits --model.width 32 --data.crop_padding 1 --data.hflip true --batch 48 --epochs 2
   --lr 3e-3 --warmup 5 --train.threads 1 --train.log_every 10"
run1 $A --run-dir "$T/k1"
runk 2 $A --run-dir "$T/k2"
grep -q "x 2 processes (batch 24 per process)" "$T/out" || { cat "$T/out"; fail "no K=2 banner"; }
close "$T/k1/checkpoint.safetensors" "$T/k2/checkpoint.safetensors" "K=2 differs from K=1"
runk 3 $A --run-dir "$T/k3"
close "$T/k1/checkpoint.safetensors" "$T/k3/checkpoint.safetensors" "K=3 differs from K=1"
# rank 0 alone writes, and logs the global batch's loss: the metrics agree with K = 1
[ "$(grep -c epoch "$T/k3/metrics.jsonl")" = "$(grep -c epoch "$T/k1/metrics.jsonl")" ] || fail "metrics lines"
l1=$(grep '"kind":"epoch","epoch":2' "$T/k1/metrics.jsonl" | sed 's/.*"train_loss":\([0-9.e-]*\).*/\1/')
l3=$(grep '"kind":"epoch","epoch":2' "$T/k3/metrics.jsonl" | sed 's/.*"train_loss":\([0-9.e-]*\).*/\1/')
python3 -c "import sys; sys.exit(abs($l1 - $l3) > 1e-4)" || fail "train loss K=1 $l1, K=3 $l3"

# 2. accumulation: 3 micro-batches of 16 == one batch of 48; with K = 2 (8 per rank) too
run1 $A --batch 16 --train.accumulate 3 --run-dir "$T/acc"
close "$T/k1/checkpoint.safetensors" "$T/acc/checkpoint.safetensors" "accumulation differs from the large batch"
runk 2 $A --batch 16 --train.accumulate 3 --run-dir "$T/acc2"
close "$T/k1/checkpoint.safetensors" "$T/acc2/checkpoint.safetensors" "accumulation with K=2 differs"

# 2a. the batch-size schedule (16, then 32 from epoch 2) under K = 2 == K = 1
G="$A --batch 16 --train.batch_growth 1 --train.batch_factor 2"
run1 $G --run-dir "$T/grow1"
runk 2 $G --run-dir "$T/grow2"
close "$T/grow1/checkpoint.safetensors" "$T/grow2/checkpoint.safetensors" "batch schedule with K=2 differs"
run1 $G --sam.rho 0.05 --run-dir "$T/growsam1"
runk 2 $G --sam.rho 0.05 --run-dir "$T/growsam2"
close "$T/growsam1/checkpoint.safetensors" "$T/growsam2/checkpoint.safetensors" "SAM with a batch schedule, K=2 differs"

# 2b. batch norm (SGD: Adam turns the float noise of the exactly-zero gradient of a bias before a
#     norm into lr-sized steps). sync_bn with K = 2, 3 == K = 1; per-process statistics (the
#     default) differ from K = 1 but equal ghost batch norm over the same halves of the batch
#     (parameters; the running statistics are updated differently)
B="--data moons --data.n_train 480 --model.width 32 --model.norm batch --batch 48 --epochs 2
   --opt sgd --lr 0.05 --optim.momentum 0.9 --warmup 5 --train.threads 1"
run1 $B --run-dir "$T/bn1"
runk 2 $B --model.sync_bn true --run-dir "$T/bn2s"
close "$T/bn1/checkpoint.safetensors" "$T/bn2s/checkpoint.safetensors" "sync_bn K=2 differs from K=1"
runk 3 $B --model.sync_bn true --run-dir "$T/bn3s"
close "$T/bn1/checkpoint.safetensors" "$T/bn3s/checkpoint.safetensors" "sync_bn K=3 differs from K=1"
runk 2 $B --run-dir "$T/bn2"
$CK close "$T/bn1/checkpoint.safetensors" "$T/bn2/checkpoint.safetensors" > /dev/null \
  && fail "per-process batch norm equals the global one"
run1 $B --model.ghost_batch 24 --run-dir "$T/ghost"
DS_CLOSE_SKIP=running close "$T/bn2/checkpoint.safetensors" "$T/ghost/checkpoint.safetensors" \
  "ghost batch norm (24) differs from per-process batch norm over 2 x 24"

# 2c. SAM under data parallelism: the ascent from the reduced gradient of the global batch, so
#     K = 2 equals K = 1 (same global batch and seed), and K = 2 x 2 accumulated micro-batches too;
#     ASAM likewise. m-sharpness (chunks of 8 of each rank's share, each with its own ascent) equals
#     K = 1's chunks of the same samples (480 samples: no partial batch to cut differently).
run1 $A --sam.rho 0.05 --run-dir "$T/sam1"
runk 2 $A --sam.rho 0.05 --run-dir "$T/sam2"
close "$T/sam1/checkpoint.safetensors" "$T/sam2/checkpoint.safetensors" "SAM K=2 differs from K=1"
runk 2 $A --sam.rho 0.05 --batch 24 --train.accumulate 2 --run-dir "$T/sam2a"
close "$T/sam1/checkpoint.safetensors" "$T/sam2a/checkpoint.safetensors" "SAM K=2 x accumulate 2 differs"
run1 $A --sam.adaptive true --run-dir "$T/asam1"
runk 2 $A --sam.adaptive true --run-dir "$T/asam2"
close "$T/asam1/checkpoint.safetensors" "$T/asam2/checkpoint.safetensors" "ASAM K=2 differs from K=1"
$CK close "$T/sam1/checkpoint.safetensors" "$T/k1/checkpoint.safetensors" 1e-5 1e-4 > /dev/null \
  && fail "SAM trained as the plain run"
M="--data moons --data.n_train 480 --model.width 32 --batch 48 --epochs 2 --opt sgd --lr 0.05
   --optim.momentum 0.9 --warmup 5 --train.threads 1 --sam.rho 0.05 --sam.m 8"
run1 $M --run-dir "$T/msh1"
runk 2 $M --run-dir "$T/msh2"
close "$T/msh1/checkpoint.safetensors" "$T/msh2/checkpoint.safetensors" "m-sharpness K=2 differs from K=1"
timeout 60 $MPI -np 2 "$CLI" train --progress none $M --sam.m 5 --run-dir "$T/bad" > "$T/out" 2>&1 \
  && fail "sam.m 5 with 24 samples per process accepted"
grep -q "sam.m 5 does not divide this process's micro-batch of 24" "$T/out" || { cat "$T/out"; fail "sam.m message"; }

# 2d. evaluation is sharded (each rank a 1/K share, counts reduced): with parameters that stay
#     identical (lr 0), K = 2 and 3 report exactly K = 1's validation and test accuracies,
#     per-class accuracies and label-noise memorisation, and the losses to rounding
E="--data digits --model.width 32 --batch 48 --epochs 1 --opt sgd --lr 0 --train.threads 1
   --data.val_fraction 0.1 --data.label_noise 0.3"
run1 $E --run-dir "$T/ev1"
runk 2 $E --run-dir "$T/ev2"
runk 3 $E --run-dir "$T/ev3"
python3 - "$T" <<'PY' || fail "sharded evaluation differs from K = 1"
import json, sys
d = sys.argv[1]
s = [json.load(open(f"{d}/ev{k}/summary.json")) for k in (1, 2, 3)]
for k in ("test_acc", "val_acc", "test_class_acc", "val_class_acc", "test_worst_class_acc",
          "noisy_memorized", "noisy_clean_acc"):
    assert s[0][k] == s[1][k] == s[2][k], (k, [x[k] for x in s])
for k in ("test_loss", "val_loss"):
    assert all(abs(x[k] - s[0][k]) <= 1e-6 * abs(s[0][k]) for x in s), (k, [x[k] for x in s])
PY

# 3. a checkpoint of K = 2 resumes with K = 3 (same global batch): same end as straight K = 1
runk 2 $A --run-dir "$T/rs" --train.stop_after 1
runk 3 --resume "$T/rs"
grep -q "resuming" "$T/out" || fail "no resume"
close "$T/k1/checkpoint.safetensors" "$T/rs/checkpoint.safetensors" "K=2 then K=3 differs from K=1"

# 4. refusals: a batch not divisible by K, settings that differ between ranks
timeout 60 $MPI -np 3 "$CLI" train --progress none --data digits --batch 50 --run-dir "$T/bad" > "$T/out" 2>&1 \
  && fail "batch 50 over 3 processes accepted"
grep -q "global batch of 50 is not divisible by the 3 processes" "$T/out" || { cat "$T/out"; fail "divisibility message"; }
timeout 60 $MPI -np 1 "$CLI" train --progress none --data digits --epochs 1 --run-dir "$T/m" : \
  -np 1 "$CLI" train --progress none --data digits --epochs 2 --run-dir "$T/m" > "$T/out" 2>&1 \
  && fail "ranks with different settings accepted"
grep -q "the settings differ between rank 0 and rank 1" "$T/out" || { cat "$T/out"; fail "settings message"; }

# 5. Inf loss on one rank (one regression target of 1e30 lands in one rank's share): every rank
#    stops at that step, non-zero, promptly
python3 - "$T/inf.csv" <<'EOF'
import random, sys
random.seed(1)
with open(sys.argv[1], "w") as f:
    for i in range(64):
        a, b = random.random(), random.random()
        f.write(f"{a},{b},{1e30 if i == 40 else a + b}\n")
EOF
timeout 60 $MPI -np 2 "$CLI" train --progress none --data csv --data.path "$T/inf.csv" --data.regression true \
  --batch 16 --epochs 3 --train.threads 1 --run-dir "$T/inf" > "$T/out" 2>&1
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] || { cat "$T/out"; fail "Inf loss on one rank: exit $rc"; }
grep -q "loss is Inf" "$T/out" || { cat "$T/out"; fail "Inf loss message"; }

# 6. a rank SIGKILLed mid-run: the job ends non-zero within 60 s naming rank 1; the last
#    checkpoint is loadable and --resume finishes the run
F="--data digits --model.width 64 --batch 16 --epochs 40 --train.threads 1 --run-dir $T/kill"
timeout 120 $MPI -np 2 "$CLI" train --progress none $F > "$T/kout" 2>&1 &
job=$!
for _ in $(seq 600); do [ -f "$T/kill/checkpoint.safetensors" ] && break; sleep 0.1; done
[ -f "$T/kill/checkpoint.safetensors" ] || fail "no checkpoint before the kill"
victim=""
for p in $(pgrep -f -- "--run-dir $T/kill"); do  # this test's ranks only (others may run MPI jobs)
  if tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1"; then victim=$p; fi
done
[ -n "$victim" ] || fail "rank 1 not found"
start=$(date +%s)
kill -KILL "$victim"
wait $job
rc=$?
took=$(( $(date +%s) - start ))
[ $rc -ne 0 ] && [ $rc -ne 124 ] || { cat "$T/kout"; fail "after SIGKILL: exit $rc"; }
[ $took -le 60 ] || fail "the job took $took s to stop"
grep -q "rank 1" "$T/kout" || { cat "$T/kout"; fail "the message does not name rank 1"; }
$CK check "$T/kill/checkpoint.safetensors" > /dev/null || fail "the last checkpoint is not loadable"
runk 2 --resume "$T/kill" --train.epochs 3
grep -q "resuming" "$T/out" || fail "resume after the kill"
if own_leaks; then grep -h -B3 -A12 -E "$SRC/(src|cli)/" "$T"/lsan.* | head -60; fail "leaks in descent under mpirun"; fi
echo "ok: K=1/2/3 equal, accumulation, batch schedule, sync_bn, ghost batch norm, SAM/ASAM/m-sharpness, sharded evaluation, resume across K, refusals, Inf loss, SIGKILL (stopped in $took s)"
