#!/usr/bin/env bash
# Conv benchmark, descent and PyTorch side by side, back to back, repeated. Writes
# bench/results/cnn.json.
#   bash bench/cnn.sh [rounds=3] [models="cnn cnn_bn resnet"]      (after a Release build in build/)
# Each round runs, per model, one training epoch of: descent on 2 threads (bench_cnn), PyTorch with
# an allocator that keeps its buffers (MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_, on 1 and 2
# threads) and PyTorch with glibc's default allocator (2 threads); each under /usr/bin/time -v for
# its peak RSS, with the load average noted before and after (the machine may be shared). The
# JSON holds every run and, per model, medians with min and max, FLOPs per layer, the sgemm peak
# measured by bench_cnn in the same run, and the ratios against PyTorch's best.
# STEPS=N times N steps per epoch instead of whole epochs and scales to an epoch (quick checks);
# THREADS (descent's, default 2), TORCH_THREADS (PyTorch's to try, default 1,2) and OUT (default
# bench/results/cnn.json) change the setting. Both sides also report process CPU seconds per epoch:
# with 1 thread each, the comparison least disturbed by other jobs on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
models=${2:-"cnn cnn_bn resnet"}
steps=${STEPS:-0}
threads=${THREADS:-2}
torch_threads=${TORCH_THREADS:-1,2}
out=${OUT:-bench/results/cnn.json}
keep=(MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=17179869184)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
lines="$tmp/runs.jsonl"
: > "$lines"

# run SIDE MODEL ROUND CMD...: one process; appends {side, model, round, rss_kb, load, result}.
run() {
  local side=$1 model=$2 round=$3
  shift 3
  local load0 load1
  load0=$(cut -d' ' -f1 /proc/loadavg)
  /usr/bin/time -v -o "$tmp/time" "$@" > "$tmp/out" 2> "$tmp/err" || {
    cat "$tmp/err" >&2
    echo "bench/cnn.sh: $side $model failed" >&2
    exit 1
  }
  load1=$(cut -d' ' -f1 /proc/loadavg)
  if [ "$side" = descent ] && [ "$round" = 1 ]; then cat "$tmp/err" >&2; fi # the FLOP table
  python3 - "$side" "$model" "$round" "$load0" "$load1" "$tmp/out" "$tmp/time" >> "$lines" <<'PY'
import json, re, sys
side, model, rnd, l0, l1, out, tim = sys.argv[1:8]
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(tim).read()).group(1))
res = json.loads(open(out).read().strip().splitlines()[-1])
print(json.dumps({"side": side, "model": model, "round": int(rnd), "rss_kb": rss,
                  "load_before": float(l0), "load_after": float(l1), "result": res}))
PY
  echo "round $round $model $side: $(tail -1 "$lines" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("epoch %.2f s, rss %d MB, load %.1f" % (d["result"]["epoch_s"], d["rss_kb"] // 1024, d["load_after"]))')" >&2
}

torch_steps=()
[ "$steps" -gt 0 ] && torch_steps=(--steps "$steps")
for r in $(seq 1 "$rounds"); do
  for m in $models; do
    run descent "$m" "$r" ./build/bench_cnn "$m" 1 "$threads" "$steps"
    run torch_keep "$m" "$r" env "${keep[@]}" /usr/bin/python3 bench/torch_cnn.py "$m" --threads "$torch_threads" "${torch_steps[@]}"
    run torch_default "$m" "$r" env -u MALLOC_MMAP_THRESHOLD_ -u MALLOC_TRIM_THRESHOLD_ /usr/bin/python3 bench/torch_cnn.py "$m" --threads "${torch_threads##*,}" "${torch_steps[@]}"
  done
done

mkdir -p "$(dirname "$out")"
python3 - "$lines" "$steps" "$rounds" > "$tmp/cnn.json" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
steps, rounds = int(sys.argv[2]), int(sys.argv[3])
scale = 1.0 if steps <= 0 else 60000 / min(60000, steps * 128)  # partial epochs -> one epoch

def stats(v):
    return {"median": statistics.median(v), "min": min(v), "max": max(v)}

out = {"bench": "cnn", "batch": 128, "optimizer": "sgd momentum 0.9, lr 0.01", "rounds": rounds,
       "steps_per_epoch": "all" if steps <= 0 else steps, "epoch_scale": scale,
       "load_average": stats([r[k] for r in runs for k in ("load_before", "load_after")]),
       "runs": runs, "models": {}}
for m in dict.fromkeys(r["model"] for r in runs):
    d = [r for r in runs if r["model"] == m and r["side"] == "descent"]
    keep = [r for r in runs if r["model"] == m and r["side"] == "torch_keep"]
    dflt = [r for r in runs if r["model"] == m and r["side"] == "torch_default"]
    desc = {"threads": d[0]["result"]["threads"],
            "epoch_s": stats([r["result"]["epoch_s"] * scale for r in d]),
            "epoch_cpu_s": stats([r["result"]["epoch_cpu_s"] * scale for r in d]),
            "eval_s": stats([r["result"]["eval_s"] for r in d]),
            "achieved_gflops": stats([r["result"]["achieved_gflops"] for r in d]),
            "sgemm_peak_gflops": stats([r["result"]["sgemm_peak_gflops_2048"] for r in d]),
            "share_of_sgemm_peak": stats([r["result"]["share_of_peak"] for r in d]),
            "peak_rss_mb": max(r["rss_kb"] for r in d) / 1024,
            "gflop_per_epoch": d[0]["result"]["gflop_per_epoch"] * scale,
            "layers": d[0]["result"]["layers"]}
    by_threads = {}
    for r in keep:
        for t in r["result"]["runs"]:
            by_threads.setdefault(t["threads"], []).append(t)
    best_t = min(by_threads, key=lambda t: statistics.median(x["epoch_s"] for x in by_threads[t]))
    tb = {"allocator": "keep (MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=17179869184)",
          "threads": best_t,
          "epoch_s": stats([x["epoch_s"] * scale for x in by_threads[best_t]]),
          "epoch_cpu_s": stats([x["epoch_cpu_s"] * scale for x in by_threads[best_t]]),
          "eval_s": stats([x["eval_s"] for x in by_threads[best_t]]),
          "epoch_s_by_threads": {t: stats([x["epoch_s"] * scale for x in v]) for t, v in by_threads.items()},
          "peak_rss_mb": max(r["rss_kb"] for r in keep) / 1024}
    td = {"allocator": "glibc default", "threads": dflt[0]["result"]["best_threads"],
          "epoch_s": stats([r["result"]["epoch_s"] * scale for r in dflt]),
          "epoch_cpu_s": stats([r["result"]["runs"][0]["epoch_cpu_s"] * scale for r in dflt]),
          "eval_s": stats([r["result"]["eval_s"] for r in dflt]),
          "peak_rss_mb": max(r["rss_kb"] for r in dflt) / 1024}
    de, tbe = desc["epoch_s"]["median"], tb["epoch_s"]["median"]
    out["models"][m] = {
        "descent": desc, "torch_best": tb, "torch_glibc_default": td,
        "speedup_vs_torch_best": tbe / de,
        "speedup_vs_torch_glibc_default": td["epoch_s"]["median"] / de,
        "cpu_time_ratio_torch_best_over_descent": tb["epoch_cpu_s"]["median"] / desc["epoch_cpu_s"]["median"],
        "rss_vs_torch_best": desc["peak_rss_mb"] / tb["peak_rss_mb"],
        "targets": {"share_of_sgemm_peak >= 0.7": desc["share_of_sgemm_peak"]["median"] >= 0.7,
                    "speedup_vs_torch_best >= 1.3": tbe / de >= 1.3,
                    "rss_vs_torch_best <= 0.3": desc["peak_rss_mb"] / tb["peak_rss_mb"] <= 0.3}}
print(json.dumps(out, indent=1))
PY
mv "$tmp/cnn.json" "$out"
python3 - "$out" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print("load average %.1f (min %.1f, max %.1f) on %s; epochs%s" % (
    d["load_average"]["median"], d["load_average"]["min"], d["load_average"]["max"], "2 cores",
    "" if d["steps_per_epoch"] == "all" else " scaled from %d steps" % d["steps_per_epoch"]))
print("%-7s %22s %22s %22s %7s %7s %7s %9s %9s" % ("model", "descent s/epoch", "torch best s/epoch",
      "torch glibc s/epoch", "speedup", "CPU-s", "%peak", "RSS MB", "torch MB"))
for m, r in d["models"].items():
    f = lambda s: "%.2f (%.2f-%.2f)" % (s["median"], s["min"], s["max"])
    print("%-7s %22s %22s %22s %6.2fx %6.2fx %6.0f%% %9.0f %9.0f" % (
        m, f(r["descent"]["epoch_s"]), f(r["torch_best"]["epoch_s"]) + " t%d" % r["torch_best"]["threads"],
        f(r["torch_glibc_default"]["epoch_s"]), r["speedup_vs_torch_best"],
        r["cpu_time_ratio_torch_best_over_descent"],
        100 * r["descent"]["share_of_sgemm_peak"]["median"], r["descent"]["peak_rss_mb"],
        r["torch_best"]["peak_rss_mb"]))
PY
