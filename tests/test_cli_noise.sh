#!/usr/bin/env bash
# Label noise in descent train: the epoch lines, metrics.jsonl and summary.json report how many
# training labels were corrupted and the share of them the model predicts as the noisy label
# (memorised) and as the clean one; without noise none of this appears.
set -uo pipefail
cli="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export LSAN_OPTIONS="suppressions=$(pwd)/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

common=(--data=spirals --epochs=3 --threads=1 --progress=none --warmup=0)
"$cli" train "${common[@]}" --data.label_noise=0.3 --run-dir="$tmp/n" > "$tmp/n.log" || fail "noisy run"
grep -q "noisy labels: memorised" "$tmp/n.log" || fail "no memorisation in the epoch lines"
python3 - "$tmp/n" <<'PY' || fail "noise metrics"
import json, sys
d = sys.argv[1]
s = json.load(open(f"{d}/summary.json"))
# 1000 spirals samples in 3 classes, 30% of each class corrupted (rounded per class)
assert 295 <= s["noisy_labels"] <= 305, s
m, c = s["noisy_memorized"], s["noisy_clean_acc"]
assert 0 <= m <= 1 and 0 <= c <= 1 and m + c <= 1 + 1e-12, s  # a prediction is one or the other or neither
epochs = [json.loads(l) for l in open(f"{d}/metrics.jsonl") if '"epoch"' in l and '"kind":"epoch"' in l.replace(" ", "")]
assert len(epochs) == 3 and all("noisy_memorized" in e for e in epochs), epochs
PY
"$cli" train "${common[@]}" --run-dir="$tmp/c" > "$tmp/c.log" || fail "clean run"
grep -q "noisy labels" "$tmp/c.log" && fail "memorisation reported without label noise"
grep -q noisy "$tmp/c/summary.json" && fail "noise fields in a clean run's summary"
echo ok
