#!/bin/bash
# The build tree as a CMake package, for a service built beside a ringserve checkout without
# installing it:
#   check_build_tree.sh BUILD_DIR SOURCE_DIR
# configures examples/client with -Dringserve_DIR=BUILD_DIR/cmake alone (no prefix path, no
# package registry), builds it with warnings as errors, and checks that both examples load
# BUILD_DIR's libringserve_client.so and report a missing daemon as the library words it.
set -euo pipefail

build=$(cd "$1" && pwd)
source=$(cd "$2" && pwd)
tmp=$(mktemp -d /tmp/ringserve-build-tree-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

for f in ringserveConfig.cmake ringserveConfigVersion.cmake ringserveTargets.cmake; do
  [ -e "$build/cmake/$f" ] || fail "$build/cmake/$f missing"
done

cmake -S "$source/examples/client" -B "$tmp/example" -Dringserve_DIR="$build/cmake" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
  -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF -DCMAKE_C_FLAGS="-Wall -Wextra -Werror" \
  -DCMAKE_CXX_FLAGS="-Wall -Wextra -Werror" >"$tmp/configure.log" 2>&1 ||
  { cat "$tmp/configure.log"; fail "configure examples/client against $build/cmake"; }
cmake --build "$tmp/example" -j2 >"$tmp/build.log" 2>&1 ||
  { cat "$tmp/build.log"; fail "build examples/client against the build tree"; }
# The headers come from the source tree's client-lib/include, as the build itself uses them.
grep -rqsF "$source/client-lib/include" "$tmp/example/CMakeFiles" ||
  fail "examples/client was not compiled against $source/client-lib/include"

name=ringserve-build-tree-absent-$$
for exe in ringserve-example-generate ringserve-example-generate-c; do
  lib=$(ldd "$tmp/example/$exe" | awk '$1 ~ /^libringserve_client/ {print $3}')
  [ "$(readlink -f "$lib")" = "$(readlink -f "$build/libringserve_client.so.0")" ] ||
    fail "$exe loads '$lib', not $build/libringserve_client.so.0"
  if "$tmp/example/$exe" "$name" >/dev/null 2>"$tmp/err"; then fail "$exe: no error"; fi
  grep -q "^error: daemon not running" "$tmp/err" || fail "$exe printed '$(cat "$tmp/err")'"
  echo "ok: $exe"
done
echo "ok"
