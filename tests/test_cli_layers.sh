#!/usr/bin/env bash
# Training diagnostics from the CLI: --train.log_layers=true adds a "layers" object to the step
# records (every parameter, finite positive norms, LARS trust ratios) and changes nothing else;
# descent plot draws layers.png from it. --train.trajectory=true keeps the run's path, and
# descent landscape --directions=pca draws the plane of its principal directions: a finite grid,
# the path with one row per checkpoint, explained variances in [0, 1] summing to at most 1; a run
# without a kept path is refused with a message that says how to keep one.
set -uo pipefail
cli="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export ASAN_OPTIONS=detect_leaks=0 # PLplot's fontconfig keeps its caches until exit

train() { "$cli" train --data moons --model mlp --model.depth 2 --model.width 16 --batch 50 \
  --warmup 0 --progress none --threads 1 --train.log_every 4 "$@" >/dev/null || fail "train $*"; }
train --opt lars --lr 0.5 --wd 1e-3 --epochs 2 --train.log_layers=true --run-dir "$tmp/on"
train --opt lars --lr 0.5 --wd 1e-3 --epochs 2 --run-dir "$tmp/off"
[ -s "$tmp/on/layers.png" ] || fail "train did not draw layers.png"
[ -e "$tmp/off/layers.png" ] && fail "layers.png drawn without log_layers"
python3 - "$tmp/on/metrics.jsonl" "$tmp/off/metrics.jsonl" <<'PY' || fail "layer records"
import json, math, sys
on = [json.loads(l) for l in open(sys.argv[1])]
off = [json.loads(l) for l in open(sys.argv[2])]
names = {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "head.weight", "head.bias"}
steps = [r for r in on if r["kind"] == "step"]
assert len(steps) == 10, len(steps)  # 2 epochs x 20 steps, every 4th
for r in steps:
    L = r["layers"]
    assert set(L) == names, L.keys()
    for n, s in L.items():
        assert math.isfinite(s["w"]) and s["w"] > 0 and math.isfinite(s["g"]) and s["g"] > 0, (n, s)
        assert abs(s["w_g"] - s["w"] / s["g"]) <= 1e-6 * s["w_g"], (n, s)
        assert (s["trust"] is None) == n.endswith("bias"), (n, s)
# off: no layers, and the same records once timing and layers are left out
assert not any("layers" in r for r in off)
strip = lambda r: {k: v for k, v in r.items() if k not in ("layers", "samples_per_s", "seconds")}
assert [strip(r) for r in on] == [strip(r) for r in off]
PY
rm "$tmp/on/layers.png"
out=$("$cli" plot "$tmp/on") || fail "plot"
echo "$out" | grep -q "layers.png" || fail "plot did not name layers.png: $out"
[ -s "$tmp/on/layers.png" ] && [ -s "$tmp/on/layers.svg" ] || fail "plot wrote no layers png/svg"
head -c 8 "$tmp/on/layers.png" | od -An -tx1 | grep -q "89 50 4e 47" || fail "not a PNG"
"$cli" plot "$tmp/on" --out "$tmp/mine" >/dev/null || fail "plot --out"
[ -s "$tmp/mine-layers.png" ] || fail "plot --out wrote no PREFIX-layers.png"
"$cli" plot "$tmp/off" | grep -q layers && fail "plot drew layers of a run without them"

# the kept path and its PCA plane: the initial weights and one checkpoint per epoch
train --opt sgd --lr 0.2 --optim.momentum 0.9 --epochs 4 --train.trajectory=true --run-dir "$tmp/p"
[ "$(ls "$tmp/p" | grep -c '^trajectory-.*\.safetensors$')" -eq 5 ] || fail "trajectory files: $(ls "$tmp/p")"
out=$("$cli" landscape "$tmp/p" --directions pca --grid 7x5 --samples 200 --progress none \
  --workers 2) || fail "pca landscape"
for f in landscape-pca.csv landscape-pca-path.csv landscape-pca.png landscape-pca.svg; do
  [ -s "$tmp/p/$f" ] || fail "no $f"
done
python3 - "$tmp/p/landscape-pca.csv" "$tmp/p/landscape-pca-path.csv" "$out" <<'PY' || fail "pca output: $out"
import csv, math, re, sys
grid = list(csv.DictReader(open(sys.argv[1])))
assert len(grid) == 35 and len({r["a"] for r in grid}) == 7 and len({r["b"] for r in grid}) == 5
assert all(math.isfinite(float(r["train_loss"])) and float(r["train_loss"]) > 0 for r in grid)
path = list(csv.DictReader(open(sys.argv[2])))
assert len(path) == 5 and path[0]["step"] == "0", path
assert all(math.isfinite(float(r["a"])) and math.isfinite(float(r["b"])) for r in path)
assert abs(float(path[-1]["a"])) < 1e-6 and abs(float(path[-1]["b"])) < 1e-6  # the final weights
a = [float(r["a"]) for r in grid]; b = [float(r["b"]) for r in grid]
assert all(min(a) <= float(r["a"]) <= max(a) and min(b) <= float(r["b"]) <= max(b) for r in path)
m = re.search(r"explained variance: PC1 ([0-9.]+), PC2 ([0-9.]+)", sys.argv[3])
e1, e2 = float(m.group(1)), float(m.group(2))
assert 0 <= e2 <= e1 <= 1 and e1 + e2 <= 1 + 1e-9, (e1, e2)
PY
# refused without a kept path, saying how to keep one; bad values
msg=$("$cli" landscape "$tmp/off" --directions pca 2>&1) && fail "pca without a path accepted"
echo "$msg" | grep -q "train.trajectory=true" || fail "the message does not say how: $msg"
echo "$msg" | grep -q "holds 0" || fail "the message does not count the checkpoints: $msg"
"$cli" landscape "$tmp/p" --directions sideways 2>/dev/null && fail "unknown directions accepted"
"$cli" landscape "$tmp/p" --directions pca --line 2>/dev/null && fail "pca with --line accepted"
# --overwrite clears the kept path with the rest of the run
train --opt sgd --lr 0.2 --epochs 1 --run-dir "$tmp/p" --overwrite
ls "$tmp/p" | grep -q '^trajectory-' && fail "--overwrite left the old trajectory"
echo "ok"
