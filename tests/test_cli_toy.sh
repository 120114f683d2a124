#!/usr/bin/env bash
# descent toy: table, CSV of every position, PNG/SVG and frames; bad arguments are refused by name.
set -uo pipefail
cli="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export ASAN_OPTIONS=detect_leaks=0 # PLplot's fontconfig keeps its caches until exit

"$cli" toy --help | grep -q "rosenbrock" || fail "--help"
out=$("$cli" toy --surface quadratic --kappa 20 --steps 50 --optims sgd,adam,lion --lr adam=0.1 \
  --out "$tmp/q" --frames "$tmp/frames" --frame-count 3) || fail "quadratic race"
echo "$out" | grep -q "kappa 20" || fail "table header: $out"
echo "$out" | grep -qE "^ +adam +0.1 " || fail "--lr override not in the table: $out"
[ -s "$tmp/q.png" ] && [ -s "$tmp/q.svg" ] || fail "no png/svg"
head -c 8 "$tmp/q.png" | od -An -tx1 | grep -q "89 50 4e 47" || fail "not a PNG"
# header + 3 racers x 51 positions
[ "$(wc -l < "$tmp/q.csv")" -eq 154 ] || fail "csv rows: $(wc -l < "$tmp/q.csv")"
head -1 "$tmp/q.csv" | grep -qx "racer,step,x,y,loss" || fail "csv header"
awk -F, '$1=="sgd" && $2==0 { ok = ($3 + 1.8)^2 < 1e-12 && ($4 - 0.9)^2 < 1e-12 } END { exit !ok }' "$tmp/q.csv" || fail "csv start point"
[ -s "$tmp/frames/frame-0000.png" ] && [ -s "$tmp/frames/frame-0002.png" ] || fail "frames"
[ -e "$tmp/frames/frame-0003.png" ] && fail "too many frames"

msg=$("$cli" toy --surface himmelblau 2>&1) && fail "unknown surface accepted"
echo "$msg" | grep -q "himmelblau" || fail "message does not name the surface: $msg"
msg=$("$cli" toy --optims sgd,heavyball 2>&1) && fail "unknown racer accepted"
echo "$msg" | grep -q "heavyball" || fail "message does not name the racer: $msg"
"$cli" toy --lr adam=0.1 --optims sgd 2>/dev/null && fail "--lr for a racer not racing accepted"
"$cli" toy --steps 1.5 2>/dev/null && fail "fractional steps accepted"
"$cli" toy --start 1 2>/dev/null && fail "one-number start accepted"
"$cli" toy --kappa 0.5 --surface quadratic 2>/dev/null && fail "kappa < 1 accepted"
"$cli" toy --out "$tmp/missing/dir/x" --steps 5 >/dev/null 2>&1 && fail "unwritable output accepted"
echo "ok"
