#!/usr/bin/env bash
# Snapshot ensembles in descent train: cosine_restarts saves a snapshot at each cycle end, keeps the
# last sched.snapshots, and reports the ensemble on the test split; the ensemble's loss is not worse
# than the mean single-snapshot loss (Jensen); an interrupted and resumed run gives the same
# snapshots and ensemble; a schedule without cycles is refused naming the key.
set -uo pipefail
cli="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export LSAN_OPTIONS="suppressions=$(pwd)/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

args=(--data=spirals --epochs=30 --sched=cosine_restarts --sched.T_0=40 --warmup=0
      --sched.snapshots=3 --opt=sgd --lr=0.1 --optim.momentum=0.9 --model.width=64
      --threads=1 --progress=none)
"$cli" train "${args[@]}" --run-dir="$tmp/a" > "$tmp/a.log" || fail "training with snapshots"
grep -q "snapshot ensemble of 3" "$tmp/a.log" || fail "no ensemble line: $(cat "$tmp/a.log")"
n=$(ls "$tmp/a" | grep -c '^snapshot-.*\.safetensors$')
[ "$n" = 3 ] || fail "expected 3 snapshot files, found $n"
for s in 160 200 240; do [ -f "$tmp/a/snapshot-00000$s.safetensors" ] || fail "no snapshot at step $s"; done
python3 - "$tmp/a/summary.json" <<'PY' || fail "summary check"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["snapshots"] == 3, s
# -log of an average of probabilities <= average of -log (convexity), up to float rounding
assert s["ensemble_test_loss"] <= s["snapshot_mean_test_loss"] + 1e-6, s
assert 0.5 < s["ensemble_test_acc"] <= 1, s
PY

# interrupted after 13 epochs (snapshots at 40, 80 taken), resumed: the same tensors in every
# snapshot (the metadata names the run directory, so the files differ there), the same ensemble
"$cli" train "${args[@]}" --run-dir="$tmp/b" --train.stop_after=13 > /dev/null || fail "first half"
"$cli" train --resume "$tmp/b" > "$tmp/b.log" || fail "resume"
for s in 160 200 240; do
  python3 read_checkpoint.py compare "$tmp/a/snapshot-00000$s.safetensors" \
    "$tmp/b/snapshot-00000$s.safetensors" > /dev/null || fail "snapshot $s differs after resume"
done
[ "$(grep ensemble "$tmp/a.log")" = "$(grep ensemble "$tmp/b.log")" ] || fail "ensemble differs after resume"

msg=$("$cli" train --data=spirals --epochs=1 --sched=cosine --sched.snapshots=2 --progress=none \
      --run-dir="$tmp/c" 2>&1 >/dev/null) && fail "snapshots with cosine accepted"
echo "$msg" | grep -q "sched.snapshots" || fail "message does not name sched.snapshots: $msg"
echo ok
