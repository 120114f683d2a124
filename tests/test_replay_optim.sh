#!/usr/bin/env bash
# CLI: `descent replay` on optimizer cases. One case per optimizer family must match its expected
# values (--check, tolerance |a-b| <= 1e-5 + 1e-4|b|); the output is one JSON object with every
# parameter; unknown optimizers, hyperparameters and malformed cases fail with a message naming
# the culprit. $1: path of the descent CLI. Run from tests/.
set -euo pipefail
cli="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for c in sgd_nesterov adam_wd_amsgrad adamw_default nadam_default radam_default rmsprop_centered_wd \
         adagrad_decay adadelta_wd adamax_wd sgdw_nesterov adamp_projection sgdp_projection \
         lars_clip_nesterov lamb_default lion_wd schedulefree_adamw_warmup_wd muon_default; do
  "$cli" replay --check "fixtures/optim/$c.json" > "$tmp/out.json" 2> "$tmp/err.txt" ||
    { cat "$tmp/err.txt"; echo "FAIL: $c"; exit 1; }
  grep -q ' 0 outside' "$tmp/err.txt" || { cat "$tmp/err.txt"; exit 1; }
done

# output shape: {"params": [[...] x 6]}, 167 numbers in all for the standard case
"$cli" replay fixtures/optim/adam_default.json > "$tmp/out.json"
head -c 13 "$tmp/out.json" | grep -q '^{"params": \[\[' || { echo "FAIL: output format"; exit 1; }
n=$(tr -cd ',' < "$tmp/out.json" | wc -c)
[ "$n" -eq 166 ] || { echo "FAIL: expected 167 values, got $((n + 1))"; exit 1; }

# a wrong expectation is caught: scale one expected value
sed 's/"expected":\[\[/"expected":[[1000,/' fixtures/optim/sgd_plain.json |
  sed 's/"expected":\[\[1000,[^,]*,/"expected":[[1000,/' > "$tmp/wrong.json"
if "$cli" replay --check "$tmp/wrong.json" > /dev/null 2> "$tmp/err.txt"; then
  echo "FAIL: --check accepted a wrong expected value"; exit 1
fi
grep -q '1 outside' "$tmp/err.txt" || { cat "$tmp/err.txt"; exit 1; }

# errors name what is at fault, and exit non-zero
expect_error() { # file, text the message must contain
  if "$cli" replay "$1" > /dev/null 2> "$tmp/err.txt"; then echo "FAIL: $1 accepted"; exit 1; fi
  grep -q -- "$2" "$tmp/err.txt" || { echo "FAIL: message lacks '$2':"; cat "$tmp/err.txt"; exit 1; }
}
case_with() { # optimizer, hyper object
  printf '{"kind":"optimizer","optimizer":"%s","hyper":%s,"params":[{"name":"w","shape":[2],"data":[1,2]}],"steps":[{"lr":0.1,"grads":[[0.5,-0.5]]}]}' "$1" "$2"
}
case_with adamq '{}' > "$tmp/e1.json";                          expect_error "$tmp/e1.json" "adamq"
case_with adam '{"momentum":0.9}' > "$tmp/e2.json";             expect_error "$tmp/e2.json" "momentum"
case_with adam '{"betas":[0.9]}' > "$tmp/e3.json";              expect_error "$tmp/e3.json" "betas"
case_with sgd '{"nesterov":true}' > "$tmp/e4.json";             expect_error "$tmp/e4.json" "nesterov"
case_with lion '{"lr":-1}' > "$tmp/e5.json";                    expect_error "$tmp/e5.json" "lr"
sed 's/"grads":\[\[0.5,-0.5\]\]/"grads":[[0.5]]/' "$tmp/e1.json" | sed 's/adamq/adam/' > "$tmp/e6.json"
expect_error "$tmp/e6.json" "gradient of 'w'"
sed 's/"data":/"dat":/' "$tmp/e1.json" | sed 's/adamq/adam/' > "$tmp/e7.json"
expect_error "$tmp/e7.json" "unknown key 'dat'"
echo '{"kind":"optimiser"}' > "$tmp/e8.json";                   expect_error "$tmp/e8.json" "optimiser"
expect_error "$tmp/missing.json" "cannot read"

# the smallest case by hand: sgd, lr 0.1, one step: w - 0.1 g
case_with sgd '{"lr":0.1}' > "$tmp/ok.json"
out=$("$cli" replay "$tmp/ok.json")
[ "$out" = '{"params": [[0.949999988, 2.04999995]]}' ] || { echo "FAIL: got $out"; exit 1; }
"$cli" replay --help | grep -q "schedulefree_adamw"

# the optimizer bench runs and writes its JSON (a smoke test, not a timing)
"$cli" bench optim --sizes 64k --only adam,sgd-momentum --time 0.01 --json "$tmp/bench.json" > /dev/null
grep -q '"case": "adam", "optimizer": "adam", "numel": 65600' "$tmp/bench.json"
grep -q '"case": "stream2"' "$tmp/bench.json"
echo "ok"
