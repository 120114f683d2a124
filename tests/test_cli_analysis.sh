#!/usr/bin/env bash
# descent sharpness / landscape on a small trained run: outputs (one line + sharpness.json; plane
# CSV of 9x7 finite losses with PNG/SVG; line CSV), and bad input: a missing checkpoint, a
# checkpoint of another model, bad options.
set -uo pipefail
cli="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export ASAN_OPTIONS=detect_leaks=0 # PLplot's fontconfig keeps its caches until exit

train() { "$cli" train --data moons --model mlp --model.depth 2 --epochs 1 --batch 32 --warmup 0 \
  --progress none --threads 1 "$@" >/dev/null || fail "train $*"; }
train --model.width 16 --run-dir "$tmp/a"
train --model.width 16 --run-dir "$tmp/a2" --seed 5
train --model.width 8 --run-dir "$tmp/b"
train --model.width 16 --model.norm batch --run-dir "$tmp/bn"

"$cli" sharpness --help | grep -q "Lanczos" || fail "sharpness --help"
"$cli" landscape --help | grep -q "filter" || fail "landscape --help"

# sharpness: one line, a JSON file with the eigenvalues in descending order
out=$("$cli" sharpness "$tmp/a" --k 2 --iterations 8 --trace --trace-probes 4 --epsilon 1e-3 \
  --samples 300) || fail "sharpness run"
[ "$(echo "$out" | wc -l)" -eq 1 ] || fail "more than one line: $out"
echo "$out" | grep -q "lambda_max" || fail "no lambda_max: $out"
python3 - "$tmp/a/sharpness.json" <<'PY' || fail "sharpness.json content"
import json, math, sys
j = json.load(open(sys.argv[1]))
e = j["eigenvalues"]
assert len(e) == 2 and e[0] >= e[1] and e[0] > 0 and j["lambda_max"] == e[0], e
assert j["samples"] == 300 and j["mode"] == "eval"
assert math.isfinite(j["trace"]) and j["eps_sharpness"] >= 0, j
PY

# landscape plane: 9 x 7 grid of finite losses, the centre equal to the sharpness loss's model
"$cli" landscape "$tmp/a" --grid 9x7 --samples 300 --out "$tmp/plane" --progress none \
  --workers 2 >/dev/null || fail "plane"
[ -s "$tmp/plane.png" ] && [ -s "$tmp/plane.svg" ] || fail "plane png/svg"
python3 - "$tmp/plane.csv" <<'PY' || fail "plane csv shape or values"
import csv, math, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 63, len(rows)
assert len({r["a"] for r in rows}) == 9 and len({r["b"] for r in rows}) == 7
assert all(math.isfinite(float(r["train_loss"])) and float(r["train_loss"]) > 0 for r in rows)
centre = [float(r["train_loss"]) for r in rows if float(r["a"]) == 0 and float(r["b"]) == 0]
assert len(centre) == 1 and centre[0] <= max(float(r["train_loss"]) for r in rows)
PY
# one worker and two give the same grid
"$cli" landscape "$tmp/a" --grid 9x7 --samples 300 --out "$tmp/plane1" --progress none \
  --workers 1 >/dev/null || fail "plane, one worker"
cmp -s "$tmp/plane.csv" "$tmp/plane1.csv" || fail "the grid depends on the number of workers"

# redrawn from the CSV with a fixed colour scale, without the model
rm "$tmp/plane.png"
"$cli" landscape "$tmp/a" --replot --out "$tmp/plane" --zrange -1,1 >/dev/null || fail "replot"
[ -s "$tmp/plane.png" ] || fail "replot wrote no png"
"$cli" landscape "$tmp/a" --replot --out "$tmp/plane" --zrange 1,-1 2>/dev/null && fail "empty zrange accepted"

# landscape line between two checkpoints of the same model
"$cli" landscape "$tmp/a" --line --from "$tmp/a2" --points 5 --out "$tmp/line" >/dev/null || fail "line"
[ "$(wc -l < "$tmp/line.csv")" -eq 6 ] || fail "line csv rows"
head -1 "$tmp/line.csv" | grep -qx "alpha,train_loss,test_loss,train_acc,test_acc" || fail "line header"

# batch norm: the plane in batch statistics, sharpness in eval mode
out=$("$cli" landscape "$tmp/bn" --grid 5 --samples 200 --batch 50 --progress none) || fail "bn plane"
echo "$out" | grep -q "batch statistics" || fail "bn plane mode: $out"
"$cli" sharpness "$tmp/bn" --iterations 4 --samples 200 >/dev/null || fail "bn sharpness"

# bad input
msg=$("$cli" sharpness "$tmp/missing" 2>&1) && fail "missing run accepted"
echo "$msg" | grep -q "missing" || fail "message does not name the path: $msg"
msg=$("$cli" landscape "$tmp/a" --line --from "$tmp/b" 2>&1) && fail "mismatched model accepted"
echo "$msg" | grep -q "fc1.weight" || fail "message does not name the tensor: $msg"
echo "$msg" | grep -q "$tmp/b" || fail "message does not name the checkpoint: $msg"
printf 'not a checkpoint' > "$tmp/junk.safetensors"
"$cli" sharpness "$tmp/junk.safetensors" 2>/dev/null && fail "junk checkpoint accepted"
"$cli" sharpness "$tmp/a" --k 5 --iterations 3 2>/dev/null && fail "k > iterations accepted"
"$cli" sharpness "$tmp/a" --epsilon -1 2>/dev/null && fail "negative epsilon accepted"
"$cli" landscape "$tmp/a" --grid 1x5 2>/dev/null && fail "1-point grid accepted"
"$cli" landscape "$tmp/a" --from "$tmp/a2" 2>/dev/null && fail "--from without --line accepted"
"$cli" landscape "$tmp/a" --bogus 2>/dev/null && fail "unknown option accepted"
echo "ok"
