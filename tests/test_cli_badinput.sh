#!/bin/bash
# Bad input to descent train/eval/plot: each case must exit non-zero (not crash), print exactly
# one line on stderr naming the thing at fault, and never leave a corrupt or partial checkpoint.
# Usage: bash test_cli_badinput.sh <descent-cli>
set -u
CLI=${1:?usage: test_cli_badinput.sh <descent-cli>}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# Under AddressSanitizer: ignore leaks inside PLplot's font and module libraries.
export LSAN_OPTIONS="suppressions=$(pwd)/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
fail() { echo "FAIL: $*"; exit 1; }
n_cases=0

# expect_fail PATTERN ARGS... : descent ARGS fails cleanly with one stderr line matching PATTERN
expect_fail() {
  local pattern=$1
  shift
  "$CLI" "$@" > "$T/stdout" 2> "$T/stderr"
  local rc=$?
  n_cases=$((n_cases + 1))
  [ $rc -ne 0 ] || fail "succeeded: descent $*"
  [ $rc -lt 128 ] || fail "crashed (exit $rc): descent $* : $(cat "$T/stderr")"
  [ "$(wc -l < "$T/stderr")" -eq 1 ] || fail "expected one stderr line: descent $*:
$(cat "$T/stderr")"
  grep -q -- "$pattern" "$T/stderr" || fail "stderr lacks '$pattern': descent $*: $(cat "$T/stderr")"
}
SMALL="--data moons --data.n_train 100 --model.width 8 --batch 20 --epochs 1 --progress none"

# ---- model sizes beyond the library's limits fail at once (not after hours of building) ----
start=$(date +%s)
expect_fail "depth 1000000000 is not in 0..10000" train $SMALL --model.depth=1000000000 --run-dir "$T/rd"
expect_fail "depth 1000000000 is not in 0..10000" train $SMALL --model resnet --model.depth=1000000000 --run-dir "$T/rd"
expect_fail "width 1000000000000 is not in 1.." train $SMALL --model.width=1000000000000 --run-dir "$T/rd"
[ $(( $(date +%s) - start )) -lt 20 ] || fail "model limits were slow to fail"

# ---- settings ----
expect_fail "unknown setting 'bogus'" train --bogus 1
expect_fail "unknown option '--bogus'" train --bogus
expect_fail "option '--lr' needs a value" train --lr
expect_fail "unknown setting 'model.bogus'" train --model.bogus=1
expect_fail "unexpected argument 'stray'" train stray
expect_fail "optim.bogus" train $SMALL --optim.bogus 1 --run-dir "$T/r0"
[ -e "$T/r0" ] && fail "a failed setup created the run directory"
expect_fail "optim.momentum" train $SMALL --optim.name adamw --optim.momentum 0.9
expect_fail "sched.bogus" train $SMALL --sched.bogus 2
expect_fail "'optim.lr': 'abc' is not a finite number" train --lr abc
expect_fail "'optim.lr': 'nan' is not a finite number" train --lr nan
expect_fail "'train.epochs': '1.5' is not an integer" train --epochs 1.5
expect_fail "'train.batch_size': 0 must be >= 1" train --batch 0
expect_fail "'data.hflip': 'maybe' is not a boolean" train --data.hflip maybe
expect_fail "needs a value" train --lr
expect_fail "optim.name" train $SMALL --opt sgdd
expect_fail "model.name" train $SMALL --model resnet9000
expect_fail "sched.name" train $SMALL --sched cosinus
expect_fail "unknown objective 'focal'" train $SMALL --objective.name focal
printf '[optim]\nlr = 1e-3\nbogus_key = 3\n' > "$T/bad1.ini"
expect_fail "optim.bogus_key" train $SMALL --config "$T/bad1.ini"
printf '[train]\nepochs = many\n' > "$T/bad2.ini"
expect_fail "config '$T/bad2.ini': setting 'train.epochs'" train --config "$T/bad2.ini"
printf '[train\nepochs = 1\n' > "$T/bad3.ini"
expect_fail "'$T/bad3.ini'" train --config "$T/bad3.ini"
expect_fail "config file '$T/none.ini'" train --config "$T/none.ini"

# ---- dataset files ----
expect_fail "$T/missing" train --data fashion-mnist --data.path "$T/missing" --progress none
python3 make_idx.py "$T/idx" || fail "make_idx.py"
"$CLI" train --data fashion-mnist --data.path "$T/idx" --epochs 1 --batch 20 --progress none \
  --run-dir "$T/idx-ok" > /dev/null 2>&1 || fail "the generated IDX dataset does not train"
bad_idx() { # bad_idx NAME: a copy of the good dataset to damage
  rm -rf "$T/$1"
  cp -r "$T/idx" "$T/$1"
}
bad_idx trunc
f="$T/trunc/train-images-idx3-ubyte.gz"
head -c $(($(stat -c %s "$f") / 2)) "$f" > "$f.x" && mv "$f.x" "$f"
expect_fail "train-images-idx3-ubyte.gz.*truncated" train --data fashion-mnist --data.path "$T/trunc"
bad_idx corrupt
f="$T/corrupt/train-labels-idx1-ubyte.gz"
python3 -c "import sys; b = bytearray(open(sys.argv[1], 'rb').read()); b[len(b) // 2] ^= 0xff; b[-6] ^= 0xff; open(sys.argv[1], 'wb').write(b)" "$f"
expect_fail "train-labels-idx1-ubyte.gz" train --data fashion-mnist --data.path "$T/corrupt"
bad_idx notgz
printf 'this is not gzip' | gzip -c | head -c 5 > "$T/notgz/t10k-images-idx3-ubyte.gz"
expect_fail "t10k-images-idx3-ubyte.gz" train --data fashion-mnist --data.path "$T/notgz"
bad_idx magic
python3 - "$T/magic/train-images-idx3-ubyte.gz" <<'PY'
import gzip, sys
raw = bytearray(gzip.open(sys.argv[1]).read()); raw[2] = 0x0d  # type float instead of ubyte
gzip.open(sys.argv[1], "wb").write(bytes(raw))
PY
expect_fail "train-images-idx3-ubyte.gz" train --data fashion-mnist --data.path "$T/magic"
bad_idx sizes
python3 make_idx.py "$T/sizes2" 59 20 && cp "$T/sizes2/train-labels-idx1-ubyte.gz" "$T/sizes/"
expect_fail "60.*59\|59.*60" train --data fashion-mnist --data.path "$T/sizes"
bad_idx short
python3 - "$T/short/t10k-images-idx3-ubyte.gz" <<'PY'
import gzip, sys
raw = gzip.open(sys.argv[1]).read()
gzip.open(sys.argv[1], "wb").write(raw[:-100])  # header says 20 images, data holds less
PY
expect_fail "t10k-images-idx3-ubyte.gz" train --data fashion-mnist --data.path "$T/short"

# ---- CSV ----
printf '1,2,0\n3,4,1\n5,6\n7,8,1\n' > "$T/ragged.csv"
expect_fail "ragged.csv', line 3" train --data csv --data.path "$T/ragged.csv"
printf '1,2,0\n3,x4,1\n5,6,0\n7,8,1\n' > "$T/text.csv"
expect_fail "text.csv', line 2" train --data csv --data.path "$T/text.csv"
expect_fail "nothere.csv" train --data csv --data.path "$T/nothere.csv"

# ---- checkpoints ----
"$CLI" train $SMALL --run-dir "$T/w8" > /dev/null 2>&1 || fail "width-8 run"
"$CLI" train $SMALL --model.width 12 --run-dir "$T/w12" > /dev/null 2>&1 || fail "width-12 run"
"$CLI" train $SMALL --model.depth 3 --run-dir "$T/d3" > /dev/null 2>&1 || fail "depth-3 run"
cp "$T/w12/checkpoint.safetensors" "$T/w8/checkpoint.safetensors"
expect_fail "does not fit this model.*fc1.weight" train --resume "$T/w8" --epochs 2
mkdir -p "$T/w8b" && cp "$T/w8/config.ini" "$T/w8b/" && cp "$T/d3/checkpoint.safetensors" "$T/w8b/"
expect_fail "does not fit this model.*model tensors" train --resume "$T/w8b" --epochs 2
expect_fail "no checkpoint\|cannot open" train --resume "$T/nowhere"
ck="$T/w12/checkpoint.safetensors"
size=$(stat -c %s "$ck")
for cut in 0 5 8 12 100 $((size / 2)) $((size - 4)) $((size - 1)); do
  head -c $cut "$ck" > "$T/cut.safetensors"
  expect_fail "cut.safetensors" eval "$T/cut.safetensors"
done
printf '\x10\x00\x00\x00\x00\x00\x00\x00{"a": [1, 2, 3]}' > "$T/junk.safetensors"
expect_fail "junk.safetensors" eval "$T/junk.safetensors"
expect_fail "checkpoint '$T/none.safetensors'" eval "$T/none.safetensors"
expect_fail "is not one of test, train, val" eval "$T/w12" --split dev
expect_fail "metrics" plot "$T/nowhere"
mkdir -p "$T/cfgdir"
expect_fail "config file '$T/cfgdir' is a directory" train --config "$T/cfgdir"
expect_fail "setting 'data.hflip': 'maybe' is not a boolean" train --data.hflip maybe
expect_fail "setting 'train.epochs': '2.5' is not an integer" train --epochs 2.5

# ---- run directory ----
touch "$T/afile"
expect_fail "run directory '$T/afile/run'" train $SMALL --run-dir "$T/afile/run"

# ---- NaN / Inf loss: stop at once naming the step, keep the last good checkpoint ----
"$CLI" train $SMALL --epochs 2 --train.stop_after 1 --run-dir "$T/nan" > /dev/null 2>&1 || fail "nan setup run"
cp "$T/nan/checkpoint.safetensors" "$T/good.safetensors"
expect_fail "step [0-9]* (epoch 2): loss is \(NaN\|Inf\).*last good checkpoint is kept" \
  train --resume "$T/nan" --lr 1e30 --sched constant --warmup 0
cmp -s "$T/nan/checkpoint.safetensors" "$T/good.safetensors" || fail "the NaN run changed the checkpoint"
ls "$T/nan" | grep -q tmp && fail "a temporary checkpoint file was left behind"
expect_fail "step 2 (epoch 1): loss is NaN.*No checkpoint was written" train $SMALL --lr 1e30 --sched constant --warmup 0 \
  --opt sgd --data regression --run-dir "$T/nan2"
[ -e "$T/nan2/checkpoint.safetensors" ] && fail "a checkpoint was written for a diverged run"
echo "ok ($n_cases cases)"
