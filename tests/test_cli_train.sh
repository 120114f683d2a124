#!/bin/bash
# descent train end to end on a small synthetic dataset: --help lists every key, flags and the
# config file set the same settings, the run directory holds config/metrics/summary/checkpoint/
# plots, the saved config.ini repeats the run exactly, eval and plot read the run.
# Usage: bash test_cli_train.sh <descent-cli>
set -u
CLI=${1:?usage: test_cli_train.sh <descent-cli>}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# Under AddressSanitizer: ignore leaks inside PLplot's font and module libraries.
export LSAN_OPTIONS="suppressions=$(pwd)/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
fail() { echo "FAIL: $*"; exit 1; }
CK="python3 $(pwd)/read_checkpoint.py"
SMALL="--data spirals --data.n_train 400 --data.n_test 200 --model.width 16 --batch 50 --lr 0.01 --warmup 4 --train.log_every 5 --progress none"

# --help: every key of the table, with its default
"$CLI" train --help > "$T/help" || fail "train --help exited non-zero"
for key in data.name model.name model.depth optim.name optim.lr optim.weight_decay sched.name \
           sched.warmup_steps train.epochs train.batch_size train.seed train.threads train.run_dir \
           objective.name; do
  grep -q "^  $key " "$T/help" || fail "--help does not list $key"
done
grep -q "^  optim.lr  *real  *1e-3 " "$T/help" || fail "--help does not show optim.lr's default"

# every schedule runs with the defaults it derives from the run (sched.h: ds_sched_set_horizon)
for s in step multistep exponential cosine cosine_restarts cyclic onecycle linear polynomial constant; do
  "$CLI" train $SMALL --epochs=1 --sched=$s --run-dir "$T/sched_$s" > "$T/s.out" 2>&1 \
    || { cat "$T/s.out"; fail "--sched=$s with its derived defaults"; }
done

# a run: flag forms --k=v and --k v, aliases
"$CLI" train $SMALL --epochs=2 --optim.weight_decay 0.01 --run-dir "$T/a" > "$T/a.out" 2>&1 \
  || { cat "$T/a.out"; fail "train exited non-zero"; }
for f in config.ini metrics.jsonl summary.json checkpoint.safetensors curves.png curves.svg; do
  [ -s "$T/a/$f" ] || fail "run directory lacks $f"
done
grep -q "^epoch 2/2  train loss" "$T/a.out" || fail "no epoch summary line"
grep -q "^lr = 0.01$" "$T/a/config.ini" || fail "config.ini lacks the lr set by --lr"
grep -q "^weight_decay = 0.01$" "$T/a/config.ini" || fail "config.ini lacks optim.weight_decay"
grep -q "^epochs = 2$" "$T/a/config.ini" || fail "config.ini lacks train.epochs"
[ "$(grep -c '"kind":"epoch"' "$T/a/metrics.jsonl")" = 2 ] || fail "metrics.jsonl: expected 2 epoch records"
grep -q '"kind":"step","step":10,' "$T/a/metrics.jsonl" || fail "metrics.jsonl: no step record"
python3 - "$T/a" <<'PY' || fail "metrics.jsonl / summary.json malformed"
import json, sys
d = sys.argv[1]
recs = [json.loads(l) for l in open(d + "/metrics.jsonl")]
assert all(r["kind"] in ("step", "epoch") for r in recs)
s = json.load(open(d + "/summary.json"))
assert s["complete"] is True and s["epochs"] == 2 and s["steps"] == 16, s
assert 0 <= s["test_acc"] <= 1 and s["test_loss"] > 0, s
last = [r for r in recs if r["kind"] == "epoch"][-1]
assert abs(last["test_acc"] - s["test_acc"]) < 1e-9, (last, s)
PY

# the saved config repeats the run exactly (same seed and threads -> same bytes)
"$CLI" train --config "$T/a/config.ini" --run-dir "$T/b" > /dev/null 2>&1 || fail "train --config exited non-zero"
$CK compare "$T/a/checkpoint.safetensors" "$T/b/checkpoint.safetensors" || fail "--config run differs"
# flags override the file
"$CLI" train --config "$T/a/config.ini" --run-dir "$T/c" --epochs 1 > /dev/null 2>&1 || fail "override run failed"
grep -q "^epochs = 1$" "$T/c/config.ini" || fail "flag did not override the config file"
# an INI file written by hand
cat > "$T/my.ini" <<INI
[data]
name = moons
n_train = 200
[optim]
name = sgd
lr = 0.05
momentum = 0.9
[train]
epochs = 1
batch_size = 20
progress = none
INI
"$CLI" train --config "$T/my.ini" --run-dir "$T/d" > "$T/d.out" 2>&1 || { cat "$T/d.out"; fail "hand-written INI run failed"; }
grep -q "^momentum = 0.9$" "$T/d/config.ini" || fail "INI momentum not kept"

# the tilted objective (TERM) trains and differs from the mean; tilt 0 is exactly the mean
"$CLI" train $SMALL --epochs=2 --optim.weight_decay 0.01 --objective.name tilted --objective.tilt 0 \
  --run-dir "$T/t0" > /dev/null 2>&1 || fail "tilted run failed"
"$CLI" train $SMALL --epochs=2 --optim.weight_decay 0.01 --objective.name tilted --objective.tilt 2 \
  --run-dir "$T/t2" > /dev/null 2>&1 || fail "tilted run failed"
$CK compare "$T/a/checkpoint.safetensors" "$T/t0/checkpoint.safetensors" > /dev/null || fail "tilt 0 differs from mean"
$CK compare "$T/a/checkpoint.safetensors" "$T/t2/checkpoint.safetensors" > /dev/null && fail "tilt 2 equals the mean"

# a different seed gives a different run
"$CLI" train $SMALL --epochs=2 --optim.weight_decay 0.01 --seed 1 --run-dir "$T/e" > /dev/null 2>&1 || fail "seed 1 run failed"
$CK compare "$T/a/checkpoint.safetensors" "$T/e/checkpoint.safetensors" > /dev/null && fail "seed has no effect"

# eval of the checkpoint agrees with the run's final test accuracy
"$CLI" eval "$T/a" > "$T/eval.out" 2>&1 || { cat "$T/eval.out"; fail "eval exited non-zero"; }
acc=$(python3 -c "import json; print('%.2f%%' % (100 * json.load(open('$T/a/summary.json'))['test_acc']))")
grep -q "accuracy $acc" "$T/eval.out" || { cat "$T/eval.out"; fail "eval accuracy differs from summary ($acc)"; }
"$CLI" eval "$T/a/checkpoint.safetensors" --split train > /dev/null || fail "eval --split train failed"
"$CLI" eval "$T/a" --split val > /dev/null 2>&1 && fail "eval --split val without a validation split succeeded"

# progress: a bar redrawn with \r (forced; auto picks it on a terminal), or plain lines
"$CLI" train $SMALL --epochs 1 --progress bar --run-dir "$T/p1" > "$T/bar.out" 2>&1 || fail "bar run"
grep -q $'\r\\[#' "$T/bar.out" || fail "no progress bar"
grep -q 'samples/s  ETA' "$T/bar.out" || fail "bar lacks samples/s and ETA"
"$CLI" train $SMALL --epochs 1 --progress plain --train.log_every 4 --run-dir "$T/p2" > "$T/plain.out" 2>&1 || fail "plain run"
grep -q $'\r' "$T/plain.out" && fail "plain progress contains carriage returns"
grep -q "^step 4/8  epoch 1  loss [0-9.]*  lr [0-9.e-]*  [0-9]* samples/s  eta" "$T/plain.out" || fail "no plain progress line"

# plot of several runs
"$CLI" plot "$T/a" "$T/e" --out "$T/cmp" > /dev/null || fail "plot exited non-zero"
[ -s "$T/cmp.png" ] && [ -s "$T/cmp.svg" ] || fail "plot files missing"
head -c 8 "$T/cmp.png" | od -An -c | grep -q "P   N   G" || fail "cmp.png is not a PNG"
echo "ok"
