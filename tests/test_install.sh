#!/usr/bin/env bash
# The installed package works for a user: headers, static and shared library, pkg-config file and
# CMake package. Installs the build beside the CLI into a temporary prefix and builds a small
# program against it both ways.
set -uo pipefail
build=$(dirname "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cmake --install "$build" --prefix "$tmp/p" > /dev/null || fail "cmake --install"
san=""  # a sanitizer build's library needs its runtime in the user's program too
grep -q "^DESCENT_SANITIZE:BOOL=ON" "$build/CMakeCache.txt" && san="-fsanitize=address,undefined"
export ASAN_OPTIONS=detect_leaks=0
cat > "$tmp/use.c" <<'C'
#include <descent/descent.h>
#include <stdio.h>
int main(void) {
  ds_graph *g = ds_graph_new(4);
  ds_node x = ds_input(g, "x", ds_shape1(3)), y = ds_input(g, "y", ds_shape_scalar());
  ds_node loss = ds_cross_entropy(g, ds_nn_linear(g, "fc", x, 2, true), y, 0.0f);
  int st = ds_graph_compile(g, loss);
  printf("descent %s %s\n", ds_version(), st ? ds_last_error() : "ok");
  ds_graph_free(g);
  return st != 0;
}
C
pc="$tmp/p/lib/pkgconfig"
flags=$(PKG_CONFIG_PATH="$pc" pkg-config --define-variable=prefix="$tmp/p" --cflags --libs descent) ||
  fail "pkg-config descent"
gcc -std=c11 -Wall -Werror $san "$tmp/use.c" $flags -o "$tmp/use_pc" || fail "build with pkg-config"
LD_LIBRARY_PATH="$tmp/p/lib" "$tmp/use_pc" | grep -q "ok" || fail "pkg-config program"

mkdir -p "$tmp/cm"
cat > "$tmp/cm/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.25)
project(use C)
find_package(descent 0.1 REQUIRED)
add_executable(use_static $tmp/use.c)
target_link_libraries(use_static descent::descent_static)
add_executable(use_shared $tmp/use.c)
target_link_libraries(use_shared descent::descent_shared)
CM
cmake -S "$tmp/cm" -B "$tmp/cm/b" -DCMAKE_PREFIX_PATH="$tmp/p" -DCMAKE_C_FLAGS="$san" \
  -DCMAKE_EXE_LINKER_FLAGS="$san" > /dev/null || fail "find_package(descent)"
cmake --build "$tmp/cm/b" > /dev/null || fail "build with find_package"
"$tmp/cm/b/use_static" | grep -q ok || fail "static program"
LD_LIBRARY_PATH="$tmp/p/lib" "$tmp/cm/b/use_shared" | grep -q ok || fail "shared program"
echo ok
