#!/usr/bin/env bash
# The shared library exports exactly the public API: every symbol declared under include/descent/
# (spot-checked) and no internal ds__ helper or third-party symbol. $1: the CLI; the library is
# built beside it.
set -euo pipefail
lib="$(dirname "$1")/libdescent.so"
[ -f "$lib" ] || { echo "FAIL: no $lib"; exit 1; }
syms=$(nm -D --defined-only "$lib" | awk '{print $3}')
internal=$(echo "$syms" | grep '^ds__' || true)
[ -z "$internal" ] || { echo "FAIL: internal symbols exported: $internal"; exit 1; }
foreign=$(echo "$syms" | grep -v '^ds_' | grep -v '^_' || true)
[ -z "$foreign" ] || { echo "FAIL: non-descent symbols exported: $foreign"; exit 1; }
# every function the public headers declare (not static inline) is exported
here="$(cd "$(dirname "$0")/.." && pwd)"
declared=$(cat "$here"/include/descent/*.h | grep -v '^ *\*\|^/\*\|static inline' |
  grep -oE '^[a-z][a-z0-9_ ]*[ *]+(ds_[a-z0-9_]+)\(' | sed -E 's/.*[ *](ds_[a-z0-9_]+)\($/\1/' | sort -u)
[ "$(echo "$declared" | wc -l)" -gt 150 ] || { echo "FAIL: could not read the declarations"; exit 1; }
missing=$(comm -23 <(echo "$declared") <(echo "$syms" | sort -u))
[ -z "$missing" ] || { echo "FAIL: declared but not exported: $missing"; exit 1; }
echo "ok: $(echo "$syms" | grep -c '^ds_') public symbols, no internal ones"
