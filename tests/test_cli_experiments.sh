#!/usr/bin/env bash
# descent experiment: every experiment of --list runs at quick scale (one seed) and writes
# results.json in the documented schema (experiment, claim, scale, seeds, arms: {ARM: {METRIC: [one
# value per seed]}}, holds, summary) with finite numbers or null, accuracies in [0, 1], and a
# report.md. The claims themselves are not checked here: quick scale is too small to show them.
set -uo pipefail
cli="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export LSAN_OPTIONS="suppressions=$(pwd)/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

names=$("$cli" experiment --list | awk '{print $1}')
[ "$(echo "$names" | wc -l)" -ge 10 ] || fail "too few experiments: $names"
"$cli" experiment bogus > /dev/null 2>&1; [ $? = 2 ] || fail "an unknown experiment must exit 2"
"$cli" experiment term-noise --scale huge > /dev/null 2>&1; [ $? = 2 ] || fail "a bad --scale must exit 2"
for name in $names; do
  "$cli" experiment "$name" --scale quick --seeds 1 --threads 1 --out "$tmp/$name" > "$tmp/$name.log" 2>&1 \
    || { cat "$tmp/$name.log"; fail "experiment $name"; }
  python3 - "$tmp/$name/results.json" "$name" <<'PY' || fail "results.json of $name"
import json, math, sys
r = json.load(open(sys.argv[1]))
assert r["experiment"] == sys.argv[2], r["experiment"]
assert isinstance(r["claim"], str) and r["claim"], "claim"
assert r["scale"] == "quick" and r["seeds"] == [1], (r["scale"], r["seeds"])
assert isinstance(r["holds"], bool) and isinstance(r["summary"], str) and r["summary"], "holds/summary"
assert r["arms"], "no arms"
for arm, metrics in r["arms"].items():
    for m, vals in metrics.items():
        assert isinstance(vals, list) and len(vals) == 1, (arm, m, vals)
        for v in vals:
            assert v is None or (isinstance(v, (int, float)) and math.isfinite(v)), (arm, m, v)
            if v is not None and m.endswith("_acc"):
                assert 0 <= v <= 1, (arm, m, v)
PY
  [ -s "$tmp/$name/report.md" ] || fail "no report.md for $name"
done
echo "ok: $(echo "$names" | wc -l) experiments at quick scale"
