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
expect_error "$tmp/missing.json" "missing.json.: cannot open"

# every field is type-checked: nothing is ignored, truncated or converted from a string
param_case() { # params array, steps array
  printf '{"kind":"optimizer","optimizer":"sgd","hyper":{},"params":%s,"steps":%s}' "$1" "$2"
}
W='[{"name":"w","shape":[2],"data":[1,2]}]'
S='[{"lr":0.1,"grads":[[0.5,-0.5]]}]'
param_case "$W" '[{"lr":"0.1","grads":[[0.5,-0.5]]}]' > "$tmp/t1.json"; expect_error "$tmp/t1.json" 'step 1: "lr" must be a number'
param_case '[{"name":"w","shape":[2.5],"data":[1,2]}]' "$S" > "$tmp/t2.json"; expect_error "$tmp/t2.json" "shape entry 0 must be an integer"
param_case '[{"name":"w","shape":["2"],"data":[1,2]}]' "$S" > "$tmp/t3.json"; expect_error "$tmp/t3.json" "shape entry 0 must be an integer"
param_case '[{"name":"w","shape":[2],"data":[1,2],"no_decay":"yes"}]' "$S" > "$tmp/t4.json"; expect_error "$tmp/t4.json" '"no_decay" must be true or false'
param_case "$W" '[{"lr":0.1,"grads":[[0.5,-0.5]],"lrr":1}]' > "$tmp/t5.json"; expect_error "$tmp/t5.json" "step 1: unknown key 'lrr'"
param_case "$W" '[{"lr":0.1,"grads":[[0.5,1e39]]}]' > "$tmp/t6.json"; expect_error "$tmp/t6.json" "float32"
param_case "$W" '[[0.5,-0.5]]' > "$tmp/t7.json"; expect_error "$tmp/t7.json" "step 1 must be an object"
case_with sgd '{"lr":"0.1"}' > "$tmp/t8.json"; expect_error "$tmp/t8.json" "not the string"
# sizes are checked against the data present before anything is allocated (4 TB here)
param_case '[{"name":"w","shape":[1000000,1000000],"data":[1,2]}]' "$S" > "$tmp/t9.json"
expect_error "$tmp/t9.json" 'needs 1000000000000 numbers in "data", it has 2'
param_case '[{"name":"w","shape":[4294967296,4294967296],"data":[]}]' "$S" > "$tmp/t10.json"
expect_error "$tmp/t10.json" "parameter 'w': shape (4294967296, 4294967296)"
# echoed input is a short escaped excerpt
long=$(head -c 5000 /dev/zero | tr '\0' 'k')
printf '{"kind":"%s\\u0007"}' "$long" > "$tmp/t11.json"; expect_error "$tmp/t11.json" "kkk\.\.\."
[ "$(wc -c < "$tmp/err.txt")" -lt 300 ] || { echo "FAIL: long echo"; cat "$tmp/err.txt"; exit 1; }
printf '{"kind":"optimizer","optimizer":"sgd%s","params":[],"steps":[]}' "$long" > "$tmp/t12.json"
expect_error "$tmp/t12.json" "is not a name"
[ "$(wc -c < "$tmp/err.txt")" -lt 300 ] || { echo "FAIL: long echo"; cat "$tmp/err.txt"; exit 1; }
# schedule cases alike
sched_case() { printf '{"kind":"schedule","schedule":"cosine","hyper":%s,"steps":3%s}' "$1" "${2:-}"; }
sched_case '{"lr":0.1,"T_max":"10"}' > "$tmp/s1.json"; expect_error "$tmp/s1.json" "'T_max' must be a JSON number"
sched_case '{"lr":"0.1","T_max":10}' > "$tmp/s2.json"; expect_error "$tmp/s2.json" "'lr' must be a JSON number"
sched_case '{"lr":0.1,"T_max":10}' ',"warmup":{"steps":1e300}' > "$tmp/s3.json"; expect_error "$tmp/s3.json" "'steps' must be an integer"
sched_case '{"lr":0.1,"T_max":10}' ',"stepz":4' > "$tmp/s4.json"; expect_error "$tmp/s4.json" "unknown key 'stepz'"
sched_case '{"lr":0.1,"T_max":10}' > "$tmp/s5.json"; "$cli" replay "$tmp/s5.json" > /dev/null

# the smallest case by hand: sgd, lr 0.1, one step: w - 0.1 g
case_with sgd '{"lr":0.1}' > "$tmp/ok.json"
out=$("$cli" replay "$tmp/ok.json")
[ "$out" = '{"params": [[0.949999988, 2.04999995]]}' ] || { echo "FAIL: got $out"; exit 1; }
"$cli" replay --help | grep -q "schedulefree_adamw"

# the optimizer bench runs and writes its JSON (a smoke test, not a timing)
"$cli" bench optim --sizes 64k --only adam,sgd-momentum --time 0.01 --json "$tmp/bench.json" > /dev/null
grep -q '"case": "adam", "optimizer": "adam", "numel": 65600' "$tmp/bench.json"
grep -q '"case": "stream2"' "$tmp/bench.json"
# its JSON is written atomically: a failed write says why and keeps the previous file
cp "$tmp/bench.json" "$tmp/bench.before"
if msg=$( (trap '' XFSZ; ulimit -f 0; "$cli" bench optim --sizes 64k --only adam --time 0.01 \
             --json "$tmp/bench.json") 2>&1 >/dev/null); then
  echo "FAIL: a failed bench JSON write exited 0"; exit 1
fi
echo "$msg" | grep -q "bench.json': write failed (File too large)" || { echo "FAIL: $msg"; exit 1; }
cmp -s "$tmp/bench.json" "$tmp/bench.before" || { echo "FAIL: previous bench JSON damaged"; exit 1; }
echo "ok"
