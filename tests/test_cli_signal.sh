#!/usr/bin/env bash
# descent signal and the plain CNN with delta-orthogonal init: a depth-32 tanh plain_cnn at the
# critical point trains (the training loss falls); descent signal on it writes one line,
# signal.json, signal.png and signal.svg; at initialisation the singular values of the Jacobian
# between the first and the last activation are far more concentrated with delta-orthogonal
# weights than with Gaussian ones at the same sigma_w; overlays; bad input.
set -uo pipefail
cli="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export ASAN_OPTIONS=detect_leaks=0 # PLplot's fontconfig keeps its caches until exit

# (the help texts go to files: grep -q closing a pipe early would fail the writer under pipefail)
"$cli" signal --help >"$tmp/help" && grep -q "Jacobian" "$tmp/help" || fail "signal --help"
"$cli" --help >"$tmp/help" && grep -q "signal" "$tmp/help" || fail "signal not listed"
"$cli" train --help >"$tmp/help" && grep -q "delta_orthogonal" "$tmp/help" ||
  fail "train --help lacks delta_orthogonal"

cnn=(--model plain_cnn --model.depth 32 --model.width 16 --model.act tanh --data.train_subset 128)
# a depth-32 vanilla CNN at the critical point trains: the epoch training loss falls
"$cli" train "${cnn[@]}" --model.init delta_orthogonal --data.test_subset 128 --epochs 3 \
  --batch 32 --opt sgd --optim.momentum 0.9 --lr 0.02 --warmup 0 --sched constant --threads 1 \
  --progress none --run-dir "$tmp/cnn" >/dev/null || fail "train plain_cnn"
python3 - "$tmp/cnn/metrics.jsonl" <<'PY' || fail "plain_cnn loss did not fall"
import json, sys
ep = [json.loads(l) for l in open(sys.argv[1]) if '"epoch"' in l]
ep = [e for e in ep if e.get("kind") == "epoch"]
loss = [e["train_loss"] for e in ep]
print("plain_cnn depth 32 delta-orthogonal, epoch train loss:", loss)
assert len(loss) == 3 and loss[2] < loss[1] < loss[0], loss
PY

# signal at the checkpoint: one line, the JSON and the figure in the run directory
out=$("$cli" signal "$tmp/cnn" --samples 50 --jacobian-samples 16) || fail "signal run dir"
[ "$(echo "$out" | grep -c "q pre-activation")" -eq 1 ] || fail "summary line: $out"
[ -s "$tmp/cnn/signal.png" ] && [ -s "$tmp/cnn/signal.svg" ] || fail "signal png/svg"
python3 - "$tmp/cnn/signal.json" <<'PY' || fail "signal.json content"
import json, math, sys
j = json.load(open(sys.argv[1]))
pre = [l for l in j["layers"] if l["kind"] == "pre"]
post = [l for l in j["layers"] if l["kind"] == "post"]
assert len(pre) == 33 and len(post) == 32, (len(pre), len(post))
assert [l["depth"] for l in pre] == list(range(1, 34))
assert all(math.isfinite(l["q"]) and l["q"] >= 0 for l in j["layers"])
jac = j["jacobian"]
assert jac["outputs"] == 10 and jac["samples"] == 16 and len(jac["singular_values"]) == 160
assert jac["p10"] <= jac["median"] <= jac["p90"] and jac["max"] >= jac["p90"]
PY

# at initialisation, the same sigma_w (the critical one): delta-orthogonal against Gaussian, the
# Jacobian between the first and the last activation (one sample: 16 x 28 x 28 = 12544 dimensions)
sig() { "$cli" signal "${cnn[@]}" --samples 50 --jacobian hidden --jacobian-samples 1 \
  --iterations 30 --threads 1 "$@"; }
sig --model.init delta_orthogonal --out "$tmp/delta" --label delta >/dev/null || fail "signal delta"
sig --model.init meanfield --out "$tmp/gauss" --label gaussian \
  --overlay "$tmp/delta/signal.json" >/dev/null || fail "signal gaussian"
[ -s "$tmp/gauss/signal.png" ] || fail "overlay figure"
rm "$tmp/gauss/signal.png"
"$cli" signal --replot --out "$tmp/gauss" --overlay "$tmp/delta/signal.json" >/dev/null &&
  [ -s "$tmp/gauss/signal.png" ] || fail "replot"
"$cli" signal --replot --out "$tmp/gauss" --overlay "$tmp/cnn/metrics.jsonl" 2>/dev/null &&
  fail "a metrics file accepted as an overlay"
python3 - "$tmp/delta/signal.json" "$tmp/gauss/signal.json" <<'PY' || fail "spectra"
import json, sys
d, g = (json.load(open(p)) for p in sys.argv[1:3])
sd, sg = d["jacobian"]["spread"], g["jacobian"]["spread"]
print("spread Var/E^2 of sigma^2 of d h_32 / d h_1: delta-orthogonal %.3g, Gaussian %.3g" % (sd, sg))
assert d["init_a"] == g["init_a"] and d["q_star"] > 0
assert abs(sum(d["jacobian"]["weights"]) - 1) < 1e-6
assert sd < 0.25 * sg, (sd, sg)
PY

# bad input
"$cli" signal "$tmp/cnn" --model.depth 3 2>/dev/null; [ $? -eq 2 ] || fail "settings with a run dir"
"$cli" signal "$tmp/missing" 2>"$tmp/err"; [ $? -eq 1 ] || fail "missing run dir"
grep -q "missing" "$tmp/err" || fail "missing run dir not named"
"$cli" signal --model.nope 3 2>/dev/null; [ $? -eq 2 ] || fail "unknown setting"
"$cli" signal --samples x 2>/dev/null; [ $? -eq 2 ] || fail "bad --samples"
"$cli" signal --jacobian middle 2>/dev/null; [ $? -eq 2 ] || fail "bad --jacobian"
"$cli" signal --model plain_cnn --model.init delta_orthogonal --model.sigma_w 0x \
  --out "$tmp/z" 2>"$tmp/err"; [ $? -ne 0 ] || fail "sigma_w 0x accepted"
grep -q "sigma_w" "$tmp/err" || fail "sigma_w not named"
"$cli" signal --model plain_cnn --model.norm batch --out "$tmp/z" 2>"$tmp/err"
[ $? -ne 0 ] && grep -q "plain_cnn" "$tmp/err" || fail "plain_cnn with batch norm accepted"
echo "ok"
