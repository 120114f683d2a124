#!/usr/bin/env bash
# descent train beyond ERM: SAM / ASAM / m-sharpness around the optimizer, the TERM family
# (tilted, stochastic, hierarchical, annealed) with the tilted risk in metrics.jsonl, L1 / Huber
# regression losses with outlier targets; bad settings fail naming the setting.
set -uo pipefail
cli="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export LSAN_OPTIONS="suppressions=$(pwd)/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

common=(--data=blobs --data.n_train=300 --epochs=2 --threads=1 --progress=none --warmup=0 --train.log_every=2)
run() { # name, flags...
  local name="$1"; shift
  "$cli" train "${common[@]}" "$@" --run-dir="$tmp/$name" > "$tmp/$name.log" 2>&1 || { cat "$tmp/$name.log"; fail "$name"; }
}
run sam --optim.name=sgd --optim.momentum=0.9 --sam.rho=0.05
run asam --sam.adaptive=true --model.norm=batch
run msharp --sam.rho=0.05 --sam.m=32
run term --objective.name=tilted --objective.tilt=-2 --objective.tilt_average=0.1 --objective.tilt_end=-1
run hier --objective.name=hierarchical --objective.tilt=0 --objective.group_tilt=2 --data.imbalance=5
grep -A2 '^\[sam\]' "$tmp/sam/config.ini" | grep -q "^rho = 0.05" || fail "sam.rho not in config.ini"
python3 - "$tmp" <<'PY' || fail "metrics"
import json, sys
d = sys.argv[1]
for run in ["sam", "asam", "msharp", "term", "hier"]:
    s = json.load(open(f"{d}/{run}/summary.json"))
    steps = [x for x in map(json.loads, open(f"{d}/{run}/metrics.jsonl")) if x["kind"] == "step"]
    assert steps, run
    if run in ("term", "hier"):  # the tilted risk beside the mean loss
        assert all("objective" in x for x in steps), run
        # t < 0 puts the tilted risk below the mean loss, t > 0 above it
        assert all((x["objective"] <= x["loss"] + 1e-9) if run == "term" else (x["objective"] >= x["loss"] - 1e-9) for x in steps), steps
    else:
        assert not any("objective" in x for x in steps), run
PY

# robust regression: outliers in the targets, L1 and Huber losses
for loss in mse l1 huber; do
  run "reg_$loss" --data=regression --data.outlier_fraction=0.2 --objective.loss=$loss --objective.huber_delta=0.5
done

# groups from a CSV column (a property of the sample, not its class): hierarchical TERM tilts across
# them, the column is not a feature, and the summary reports per-group test accuracy
python3 - "$tmp/g.csv" <<'PY'
import random, sys
random.seed(3)
with open(sys.argv[1], "w") as f:
    f.write("a,b,sex,y\n")
    for i in range(400):
        s = "female" if i % 4 == 0 else "male"
        a, b = random.gauss(0, 1), random.gauss(0, 1)
        f.write(f"{a:.4f},{b:.4f},{s},{int(a + (b if s == 'male' else -b) > 0)}\n")
PY
csv=(--data=csv --data.path="$tmp/g.csv" --objective.groups=sex --epochs=2 --threads=1 --progress=none --warmup=0)
for arm in erm hier; do
  extra=()
  [ $arm = hier ] && extra=(--objective.name=hierarchical --objective.tilt=0 --objective.group_tilt=2)
  "$cli" train "${csv[@]}" "${extra[@]}" --run-dir="$tmp/g_$arm" > "$tmp/g.log" 2>&1 || { cat "$tmp/g.log"; fail "csv groups $arm"; }
done
python3 - "$tmp" <<'PY' || fail "csv groups summary"
import json, sys
for arm in ("erm", "hier"):
    s = json.load(open(f"{sys.argv[1]}/g_{arm}/summary.json"))
    assert len(s["test_group_acc"]) == 2, s  # female 0, male 1 (sorted)
    assert abs(s["test_worst_group_acc"] - min(s["test_group_acc"])) < 1e-6, s
PY
if "$cli" train "${csv[@]}" --objective.groups=region --run-dir="$tmp/bad" > "$tmp/bad.log" 2>&1; then fail "unknown group column accepted"; fi
grep -q "no column named 'region' (columns: a, b, sex, y)" "$tmp/bad.log" || { cat "$tmp/bad.log"; fail "group column message"; }

# errors name the setting
expect_error() { # text, flags...
  local text="$1"; shift
  if "$cli" train "${common[@]}" "$@" --run-dir="$tmp/bad" > "$tmp/bad.log" 2>&1; then fail "accepted: $*"; fi
  grep -q -- "$text" "$tmp/bad.log" || { cat "$tmp/bad.log"; fail "message lacks '$text'"; }
  rm -rf "$tmp/bad"
}
expect_error "sam.rho" --sam.rho=-1
expect_error "sam.rho" --sam.rho=abc
expect_error "sam.m" --sam.m=-2
expect_error "objective.loss" --objective.loss=huber
expect_error "objective.name" --objective.name=tilded
expect_error "objective.tilt_average" --objective.tilt_average=2
expect_error "group_tilt" --objective.name=tilted --objective.group_tilt=1
expect_error "data.outlier_fraction" --data.outlier_fraction=1.5
expect_error "objective.groups" --objective.name=hierarchical --objective.groups=region
echo ok
