#!/bin/bash
# The transformer family from the CLI: vit and mixer train on 8x8 digits (patch 4), a gpt on a
# small text corpus (bits per character in its epoch line and records); their checkpoints load into
# PyTorch by name; descent eval reads the gpt's run; descent sample prints the prompt and the
# requested number of characters, reproducibly for a seed, and rejects bad input.
# Usage: bash test_cli_transformer.sh <descent-cli>
set -u
CLI=${1:?usage: test_cli_transformer.sh <descent-cli>}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export LSAN_OPTIONS="suppressions=$(pwd)/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
fail() { echo "FAIL: $*"; exit 1; }
TINY="--model.width 16 --model.depth 1 --model.heads 2 --model.mlp_ratio 2 --batch 64 --epochs 1 --progress none --optim adamw --lr 3e-3"

for m in vit mixer; do
  "$CLI" train --data digits --model $m --model.patch 4 $TINY --model.depth 2 --model.pooling cls \
    --run-dir "$T/$m" > "$T/$m.out" 2>&1 \
    || { cat "$T/$m.out"; fail "$m: train exited non-zero"; }
  grep -q "^epoch 1/1  train loss" "$T/$m.out" || fail "$m: no epoch line"
done
"$CLI" train --data digits --model vit --model.patch 3 $TINY --run-dir "$T/bad" > "$T/bad.out" 2>&1 \
  && fail "vit with a patch that does not divide 8 was accepted"
grep -q "patch 3" "$T/bad.out" || fail "the patch error does not name the patch"

# a corpus of 6000 characters: "the quick brown fox ..." lines
for i in $(seq 1 140); do echo "the quick brown fox $((i % 7)) jumps."; done > "$T/corpus.txt"
"$CLI" train --data text --data.path "$T/corpus.txt" --data.context 16 --model gpt $TINY --model.depth 2 \
  --run-dir "$T/gpt" > "$T/gpt.out" 2>&1 || { cat "$T/gpt.out"; fail "gpt: train exited non-zero"; }
grep -q "^epoch 1/1  train loss" "$T/gpt.out" || fail "gpt: no epoch line"
# bits per character beside the test loss, in the epoch line and the epoch record (nats / ln 2)
grep -q "test loss [0-9.]* ([0-9.]* bits/char) acc" "$T/gpt.out" || fail "gpt: no bits/char: $(cat "$T/gpt.out")"
python3 - "$T/gpt/metrics.jsonl" "$T/vit/metrics.jsonl" <<'PY' || fail "test_bpc in the epoch record"
import json, math, sys
e = [r for r in map(json.loads, open(sys.argv[1])) if r["kind"] == "epoch"][-1]
assert abs(e["test_bpc"] - e["test_loss"] / math.log(2)) <= 1e-6 * e["test_bpc"], e
assert not any("test_bpc" in r for r in map(json.loads, open(sys.argv[2])))  # not for images
PY
"$CLI" eval "$T/gpt" > "$T/eval.out" 2>&1 || { cat "$T/eval.out"; fail "eval of the gpt failed"; }
grep -q "loss" "$T/eval.out" || fail "eval printed no loss"
"$CLI" sample "$T/gpt" --prompt "the " --tokens 40 --seed 3 > "$T/s1" || fail "sample exited non-zero"
"$CLI" sample "$T/gpt" --prompt "the " --tokens 40 --seed 3 > "$T/s2" || fail "sample exited non-zero"
cmp -s "$T/s1" "$T/s2" || fail "sample is not reproducible for a seed"
[ "$(head -c 4 "$T/s1")" = "the " ] || fail "sample does not start with the prompt"
[ "$(tr -d '\n' < "$T/s1" | wc -c)" -ge 30 ] || fail "sample printed too few characters"
"$CLI" sample "$T/gpt" --prompt "Z" > /dev/null 2> "$T/err" && fail "a prompt outside the corpus was accepted"
grep -q "not in the corpus" "$T/err" || fail "the prompt error does not say why"
"$CLI" sample "$T/vit" > /dev/null 2> "$T/err" && fail "sampling a vit was accepted"
"$CLI" sample "$T/gpt" --temperature=-1 > /dev/null 2>&1 && fail "a negative temperature was accepted"
# the checkpoints load into the PyTorch models of tests/fixtures/gen_transformer.py by name
for m in vit gpt; do
  python3 load_transformer_checkpoint.py fixtures/transformer/$m.json "$T/$m/checkpoint.safetensors" \
    || fail "$m: the checkpoint does not load into the PyTorch model"
done
echo "ok"
