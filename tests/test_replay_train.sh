#!/usr/bin/env bash
# CLI: `descent replay` on training cases (whole steps: model, objective, SAM, optimizer) against
# PyTorch references from tests/fixtures/gen_train.py, tolerance |a-b| <= 1e-4 + 1e-3|b|; the output
# has params, buffers and losses; malformed cases fail naming the culprit. $1: the descent CLI.
set -euo pipefail
cli="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export LSAN_OPTIONS="suppressions=$(pwd)/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

n=0
for f in fixtures/train/*.json; do
  "$cli" replay --check "$f" > "$tmp/out.json" 2> "$tmp/err.txt" || { cat "$tmp/err.txt"; echo "FAIL: $f"; exit 1; }
  grep -q ' 0 outside' "$tmp/err.txt" || { cat "$tmp/err.txt"; exit 1; }
  n=$((n + 1))
done
[ "$n" -ge 10 ] || { echo "FAIL: only $n training cases"; exit 1; }

# output: params (10 tensors with batch norm), buffers (4), losses (one per step)
"$cli" replay fixtures/train/sam_adamw_batchnorm.json > "$tmp/out.json"
python3 - "$tmp/out.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert list(r) == ["params", "buffers", "losses"], list(r)
assert len(r["params"]) == 10 and len(r["buffers"]) == 4 and len(r["losses"]) == 5, r
PY

expect_error() { # file, text the message must contain
  if "$cli" replay "$1" > /dev/null 2> "$tmp/err.txt"; then echo "FAIL: $1 accepted"; exit 1; fi
  grep -q -- "$2" "$tmp/err.txt" || { echo "FAIL: message lacks '$2':"; cat "$tmp/err.txt"; exit 1; }
}
edit() { # python expression on case c, output file
  python3 -c "import json; c = json.load(open('fixtures/train/sam_sgd_momentum.json')); $1; json.dump(c, open('$2', 'w'))"
}
edit "c['sam']['rh0'] = 1" "$tmp/e1.json";                       expect_error "$tmp/e1.json" "rh0"
edit "c['objective'] = {'name': 'tilded'}" "$tmp/e2.json";       expect_error "$tmp/e2.json" "tilded"
edit "c['objective'] = {'name': 'tilted', 'tlit': 1}" "$tmp/e3.json"; expect_error "$tmp/e3.json" "tlit"
edit "c['params'][0]['name'] = 'fc9.weight'" "$tmp/e4.json";     expect_error "$tmp/e4.json" "fc9.weight"
edit "c['steps'][1]['lr'] = 0.5" "$tmp/e5.json";                 expect_error "$tmp/e5.json" "step 2"
edit "c['steps'][2]['y'][0] = 7" "$tmp/e6.json";                 expect_error "$tmp/e6.json" "step 3, sample 0"
edit "c['model']['act'] = 'swish'" "$tmp/e7.json";               expect_error "$tmp/e7.json" "swish"
edit "c['hyper']['betas'] = [0.9, 0.99]" "$tmp/e8.json";         expect_error "$tmp/e8.json" "betas"
edit "c['params'].pop()" "$tmp/e9.json";                         expect_error "$tmp/e9.json" "the case gives 5"
# a wrong expectation is caught
edit "c['expected']['losses'][2] += 0.01" "$tmp/w.json"
if "$cli" replay --check "$tmp/w.json" > /dev/null 2> "$tmp/err.txt"; then echo "FAIL: wrong loss accepted"; exit 1; fi
grep -q ' 1 outside' "$tmp/err.txt" || { cat "$tmp/err.txt"; exit 1; }
echo ok
