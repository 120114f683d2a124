#!/usr/bin/env bash
# The library builds alone: with DESCENT_BUILD_CLI=OFF and DESCENT_BUILD_TESTS=OFF, CMake needs
# neither inih, PLplot nor cmocka, and produces only libdescent (static and shared).
# $1: the CLI of the build under test (only its source tree is used).
set -uo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cmake -S "$src" -B "$tmp/b" -DDESCENT_BUILD_CLI=OFF -DDESCENT_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release \
  > "$tmp/config.log" 2>&1 || { cat "$tmp/config.log"; fail "configure"; }
grep -v "^//" "$tmp/b/CMakeCache.txt" | grep -qi "plplot\|cmocka\|inih" && fail "the library-only build looked for CLI or test dependencies"
cmake --build "$tmp/b" -j 2 > "$tmp/build.log" 2>&1 || { tail -20 "$tmp/build.log"; fail "build"; }
[ -f "$tmp/b/libdescent.a" ] && [ -f "$tmp/b/libdescent.so" ] || fail "no libdescent"
[ -e "$tmp/b/descent" ] && fail "the CLI was built"
ls "$tmp/b" | grep -q '^test_' && fail "tests were built"
echo "ok: library only"
