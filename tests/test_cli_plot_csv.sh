#!/usr/bin/env bash
# descent plot --csv: draws a CSV's columns to PNG and SVG; malformed files are refused by name.
set -uo pipefail
cli="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export ASAN_OPTIONS=detect_leaks=0 # PLplot's fontconfig keeps its caches until exit

printf 'step,"a=1,b=2",c\n0,1,2\n1,0.5,1.5\n2,0.25,1\n' > "$tmp/ok.csv"
"$cli" plot --csv "$tmp/ok.csv" >/dev/null || fail "valid csv"
[ -s "$tmp/ok.png" ] && [ -s "$tmp/ok.svg" ] || fail "no png/svg written"
head -c 8 "$tmp/ok.png" | od -An -tx1 | grep -q "89 50 4e 47" || fail "not a PNG"

printf 'step,a\n0,1\n1,x\n' > "$tmp/text.csv"
msg=$("$cli" plot --csv "$tmp/text.csv" 2>&1 >/dev/null) && fail "non-numeric field accepted"
echo "$msg" | grep -q "text.csv' line 3" || fail "message does not name the line: $msg"

printf 'step,a\n0,1\n1,2,3\n' > "$tmp/ragged.csv"
"$cli" plot --csv "$tmp/ragged.csv" 2>/dev/null && fail "ragged row accepted"
"$cli" plot --csv "$tmp/missing.csv" 2>/dev/null && fail "missing file accepted"
"$cli" plot --csv "$tmp/ok.csv" somedir 2>/dev/null && fail "csv and run dirs together accepted"
# a write failure (the file size limit here, a full disk alike) is reported with its cause and a
# non-zero exit, and the previous plots stay intact (written atomically)
cp "$tmp/ok.png" "$tmp/before.png"
msg=$( (trap '' XFSZ; ulimit -f 8; "$cli" plot --csv "$tmp/ok.csv") 2>&1 >/dev/null) &&
  fail "a failed plot write exited 0"
echo "$msg" | grep -q "ok.png': write failed (File too large)" || fail "message lacks the cause: $msg"
cmp -s "$tmp/ok.png" "$tmp/before.png" || fail "previous plot damaged"
ls "$tmp" | grep -q '\.tmp\.' && fail "temporary file left behind"
echo "ok"
