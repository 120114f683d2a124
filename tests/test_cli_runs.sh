#!/usr/bin/env bash
# A run never overwrites another one: a repeated config gets a fresh run directory, an explicit
# --run-dir that is not empty is refused unless --resume or --overwrite, stale temporary files of a
# killed process are removed. Signals: SIGINT and SIGTERM stop after the current step with a
# checkpoint, one line naming the resume command and exit 130 / 143; the resumed run ends bitwise
# where an uninterrupted one ends; a second signal ends the process at once.
set -uo pipefail
cli="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
here=$(pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export LSAN_OPTIONS="suppressions=$here/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
cd "$tmp"
cp "$here/read_checkpoint.py" .
small=(--data=moons --data.n_train=200 --epochs=2 --batch=20 --model.width=8 --warmup=0 --threads=1 --progress=none)

# ---- a repeated config makes a new run; the first run's files stay as they were ----
"$cli" train "${small[@]}" --run-dir=r/base > /dev/null 2>&1 || fail "base run"
sum_before=$(cd r/base && sha256sum * | sort)
"$cli" train --config r/base/config.ini --lr 0.01 > out.log 2>&1 || fail "repeat: $(cat out.log)"
[ "$(cd r/base && sha256sum * | sort)" = "$sum_before" ] || fail "the repeated config overwrote r/base"
new=$(sed -n 's/^run directory: //p' out.log | head -n 1)
[ -n "$new" ] && [ "$new" != "r/base" ] && [ -f "$new/summary.json" ] || fail "no fresh run directory: $(cat out.log)"
grep -q "^run_dir =$" r/base/config.ini || fail "config.ini saves run_dir"

# ---- an explicit, non-empty --run-dir: refused (exit 2), or replaced with --overwrite ----
"$cli" train "${small[@]}" --run-dir=r/base > out.log 2> err.log
rc=$?
[ $rc = 2 ] || fail "exit $rc writing into a full run directory"
grep -q "run directory 'r/base' is not empty.*--resume r/base.*--overwrite" err.log || fail "message: $(cat err.log)"
[ "$(cd r/base && sha256sum * | sort)" = "$sum_before" ] || fail "a refused run changed r/base"
mkdir -p other && echo keep > other/notes.txt
"$cli" train "${small[@]}" --run-dir=other > /dev/null 2>&1 && fail "wrote into a directory with other files"
"$cli" train "${small[@]}" --lr=0.05 --run-dir=r/base --overwrite > /dev/null 2>&1 || fail "--overwrite"
[ "$(cd r/base && sha256sum * | sort)" != "$sum_before" ] || fail "--overwrite did not replace the run"

# ---- stale temporary files of a dead process are removed on resume ----
"$cli" train "${small[@]}" --epochs=3 --train.stop_after=1 --run-dir=r/stale > /dev/null 2>&1 || fail "stale setup"
echo partial > r/stale/checkpoint.safetensors.tmp.999999
echo partial > r/stale/metrics.jsonl.tmp.999998
"$cli" train --resume r/stale > /dev/null 2>&1 || fail "resume with stale temp files"
ls r/stale | grep -q '\.tmp\.' && fail "stale temporary files left: $(ls r/stale)"

# ---- the progress bar fits a narrow terminal (a pseudo-terminal of 50 columns) ----
if command -v script > /dev/null; then
  script -q -c "stty cols 50; '$cli' train ${small[*]} --progress=bar --run-dir=r/bar" bar.txt > /dev/null 2>&1 \
    || fail "progress bar run"
  python3 - bar.txt <<'PY' || fail "the progress bar is wider than the terminal"
import re, sys
text = open(sys.argv[1], "rb").read().decode("utf-8", "replace")
bars = [re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", p) for p in re.split(r"[\r\n]", text)]
bars = [b for b in bars if b.startswith("[")]
assert bars and max(len(b) for b in bars) < 50, [len(b) for b in bars]
PY
fi

# ---- surprising settings warn; bad hyperparameters are usage errors (exit 2) ----
"$cli" train "${small[@]}" --warmup=1000 --run-dir=r/warn > /dev/null 2> warn.txt || fail "warm-up run"
grep -q "warning: sched.warmup_steps = 1000 is not shorter than the run" warn.txt || fail "no warm-up warning: $(cat warn.txt)"
"$cli" train "${small[@]}" --opt=adam --optim.betas=0.9 --run-dir=r/bad > /dev/null 2>&1
[ $? = 2 ] || fail "a bad optimizer hyperparameter must exit 2"
"$cli" train "${small[@]}" --sched=step --sched.gamma=-1 --run-dir=r/bad2 > /dev/null 2>&1
[ $? = 2 ] || fail "a bad schedule hyperparameter must exit 2"

# ---- signals ----
slow=(--data=moons --data.n_train=4000 --data.n_test=200 --epochs=3 --batch=20 --model.width=256
      --model.depth=3 --opt=sgd --lr=0.05 --warmup=0 --threads=1 --progress=plain --train.log_every=10)
"$cli" train "${slow[@]}" --run-dir=r/whole > /dev/null 2>&1 || fail "uninterrupted run"
python3 - "$cli" "${slow[@]}" <<'PY' || fail "signal handling"
import os, signal, subprocess, sys, time
cli, args = sys.argv[1], sys.argv[2:]
signal.signal(signal.SIGINT, signal.SIG_DFL)  # a launcher that does not ignore SIGINT for children

def start(run_dir, extra=()):
    return subprocess.Popen([cli, "train", *args, f"--run-dir={run_dir}", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

def wait_for_steps(p, n=30):
    for line in p.stdout:  # plain progress lines: "step N/..."
        if line.startswith("step ") and int(line.split()[1].split("/")[0]) >= n:
            return
    raise SystemExit("no progress before the signal")

for sig, code, d in ((signal.SIGINT, 130, "r/int"), (signal.SIGTERM, 143, "r/term")):
    p = start(d)
    wait_for_steps(p)
    p.send_signal(sig)
    out, err = p.communicate(timeout=60)
    assert p.returncode == code, (sig, p.returncode, err)
    assert f"resume with: descent train --resume {d}" in out, out
    assert "interrupted at step " in out, out
    assert os.path.exists(f"{d}/checkpoint.safetensors"), os.listdir(d)
    r = subprocess.run([cli, "train", "--resume", d], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    same = subprocess.run([sys.executable, "read_checkpoint.py", "compare", f"{d}/checkpoint.safetensors",
                           "r/whole/checkpoint.safetensors"], capture_output=True, text=True)
    assert same.returncode == 0, f"{d}: resumed run differs from the uninterrupted one: {same.stdout}"

# a second signal ends the process at once, by the signal (steps of ~0.1 s: it lands mid-step)
p = start("r/twice", ["--model.width=2048", "--batch=200", "--train.log_every=1"])
wait_for_steps(p, 1)
p.send_signal(signal.SIGTERM)
time.sleep(0.01)
p.send_signal(signal.SIGTERM)
p.communicate(timeout=60)
assert p.returncode == -signal.SIGTERM, p.returncode
print("signals ok")
PY
echo "ok"
