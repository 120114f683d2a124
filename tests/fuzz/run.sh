#!/usr/bin/env bash
# Runs the libFuzzer harnesses of build-fuzz (cmake --preset fuzz) for SECONDS each, one after the
# other, starting from the committed seed corpus and regression inputs; new inputs accumulate in
# build-fuzz/fuzz-work/NAME/corpus. Exit 1 on any finding (crash, sanitizer report, leak, timeout
# > 10 s, allocation > 2 GB): the input is in build-fuzz/fuzz-work/NAME/artifacts/; keep it as a
# regression input in tests/fuzz/regress/NAME/ once fixed.
#   tests/fuzz/run.sh [SECONDS [NAME...]]     (default: 60 s; idx csv ini checkpoint replay)
set -uo pipefail
secs="${1:-60}"
shift || true
names=("$@")
[ ${#names[@]} -eq 0 ] && names=(idx csv ini checkpoint replay)
root=$(cd "$(dirname "$0")/../.." && pwd)
bin="$root/build-fuzz/tests/fuzz"
work="$root/build-fuzz/fuzz-work"
export OMP_NUM_THREADS=1
sym=/usr/lib/llvm-14/bin/llvm-symbolizer
[ -x "$sym" ] && export ASAN_SYMBOLIZER_PATH="$sym"
failed=0
for n in "${names[@]}"; do
  mkdir -p "$work/$n/corpus" "$work/$n/artifacts"
  log="$work/$n/log.txt"
  # -close_fd_mask=3: the harnesses' own messages are silenced, libFuzzer's reports are kept
  "$bin/fuzz_$n" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -close_fd_mask=3 \
    -print_final_stats=1 -artifact_prefix="$work/$n/artifacts/" \
    "$work/$n/corpus" "$root/tests/fuzz/corpus/$n" "$root/tests/fuzz/regress/$n" > "$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  if [ $rc -ne 0 ]; then
    echo "fuzz_$n: FINDING (exit $rc) after ${execs:-?} executions; log: $log"
    grep -E "ERROR|SUMMARY|Test unit written" "$log" | head -20
    failed=1
  else
    echo "fuzz_$n: ${execs:-?} executions in ${secs} s, no finding"
  fi
done
exit $failed
