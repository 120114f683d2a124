#!/usr/bin/env bash
# The C sources follow the committed .clang-format: clang-format would change none of them.
# (Generated fixture data under tests/fixtures is not checked.) $1: the CLI (unused).
set -uo pipefail
cd "$(dirname "$0")/.."
command -v clang-format > /dev/null || { echo "FAIL: clang-format is not installed (scripts/setup.sh)"; exit 1; }
bad=()
while IFS= read -r f; do
  clang-format --dry-run -Werror "$f" > /dev/null 2>&1 || bad+=("$f")
done < <(git ls-files '*.c' '*.h' | grep -v '^tests/fixtures/')
if [ ${#bad[@]} -gt 0 ]; then
  echo "FAIL: not formatted (run clang-format -i on them): ${bad[*]}"
  exit 1
fi
echo "ok: every C source is formatted"
