#!/bin/bash
# Hierarchical TERM across groups that are not classes (docs/beyond-erm.md, "Groups from a CSV
# column"): scikit-learn's digits with a minority of mirrored images (experiments/digits_groups_csv.py),
# the style as the group column; ERM against hierarchical TERM (t 0 within, T across the styles),
# 3 seeds each; prints test accuracy and per-group test accuracy, mean ± standard deviation.
# Usage: bash experiments/term_groups.sh [DESCENT] [OUT_DIR]   (about a minute on one core; the
# CSV writer needs Debian's python3-sklearn: $PYTHON, default /usr/bin/python3)
set -euo pipefail
cli=${1:-build/descent}
out=${2:-/tmp/descent-term-groups}
${PYTHON:-/usr/bin/python3} "$(dirname "$0")/digits_groups_csv.py" "$out/data" --minority 0.05 --seed 0
common="--data=csv --data.path=$out/data/train.csv --data.test_path=$out/data/test.csv
        --objective.groups=style --batch=64 --epochs=${EPOCHS:-5} --warmup=${WARMUP:-10} --threads=1 --progress=none"
for seed in 1 2 3; do
  for T in 0 2 5; do
    extra=""
    [ "$T" = 0 ] || extra="--objective.name=hierarchical --objective.tilt=0 --objective.group_tilt=$T"
    # shellcheck disable=SC2086
    "$cli" train $common --train.seed=$seed $extra --run-dir="$out/T$T-seed$seed" --overwrite > /dev/null
  done
done
python3 - "$out" <<'EOF'
import json, statistics as st, sys
print("| arm | test accuracy % | mirrored (minority) % | plain % |")
print("|---|---|---|---|")
for T in (0, 2, 5):
    rows = [json.load(open(f"{sys.argv[1]}/T{T}-seed{s}/summary.json")) for s in (1, 2, 3)]
    cols = [[100 * r["test_acc"] for r in rows]] + [[100 * r["test_group_acc"][g] for r in rows] for g in (0, 1)]
    name = "ERM" if T == 0 else f"hierarchical TERM, t 0, T {T}"
    print(f"| {name} | " + " | ".join(f"{st.mean(c):.2f} ± {st.stdev(c):.2f}" for c in cols) + " |")
EOF
