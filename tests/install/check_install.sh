#!/bin/bash
# The installed package, used the way a service would use it:
#   check_install.sh BUILD_DIR SOURCE_DIR
# installs BUILD_DIR into a temporary prefix, builds examples/client against that prefix
# alone (CMake find_package, and pkg-config through examples/client/Makefile), runs the
# INSTALLED ringserved (echo backend; the built-in model, which it must find in the prefix;
# a sharded model from the installed ringserve-make-model, for the per-shard progress lines)
# and the examples against it, stops it with SIGTERM each time, and checks the systemd unit.
set -euo pipefail

build=$(cd "$1" && pwd)
source=$(cd "$2" && pwd)
tmp=$(mktemp -d /tmp/ringserve-install-test.XXXXXX)
prefix=$tmp/prefix
daemon_pid=
daemon_name=

cleanup() {
  if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -KILL "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
    # A killed daemon leaves its segment (and its lock file, in its lock directory, harmless:
    # the name is unique to this run).
    rm -f "/dev/shm/ringserve.$daemon_name"
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

step() { echo "== $*"; }

step "cmake --install into $prefix"
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log"; fail "cmake --install"; }
for f in bin/ringserved bin/ringctl bin/ringserve-http bin/ringserve-bench bin/ringserve-make-model \
  lib/systemd/system/ringserve-http@.service share/doc/ringserve/HTTP.md \
  lib/libringserve_client.so lib/libringserve_client.so.0 \
  include/ringserve/client.h include/ringserve/ringserve.h \
  lib/cmake/ringserve/ringserveConfig.cmake lib/cmake/ringserve/ringserveConfigVersion.cmake \
  lib/cmake/ringserve/ringserveTargets.cmake lib/pkgconfig/ringserve.pc \
  lib/systemd/system/ringserved@.service lib/sysusers.d/ringserve.conf \
  share/ringserve/ringserve.example.toml share/ringserve/models/builtin/config.json \
  share/ringserve/models/builtin/model.safetensors \
  share/ringserve/models/builtin/tokenizer.json \
  lib/python3/dist-packages/ringserve/__init__.py \
  lib/python3/dist-packages/ringserve/_install_layout.py; do
  [ -e "$prefix/$f" ] || fail "not installed: $f"
done
[ -L "$prefix/lib/libringserve_client.so" ] || fail "lib/libringserve_client.so is not a link"
# The installed library, like the built one, needs nothing but the C/C++ runtime.
"$source/tests/check_client_deps.sh" "$prefix/lib/libringserve_client.so" ||
  fail "installed client library dependencies"

step "examples/client with CMake, against the prefix only"
# No package registries: only CMAKE_PREFIX_PATH may lead to ringserve.
cmake -S "$source/examples/client" -B "$tmp/example" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
  -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF -DCMAKE_C_FLAGS="-Wall -Wextra -Werror" \
  -DCMAKE_CXX_FLAGS="-Wall -Wextra -Werror" >"$tmp/example-configure.log" 2>&1 ||
  { cat "$tmp/example-configure.log"; fail "configure examples/client"; }
grep -qx "ringserve_DIR:PATH=$prefix/lib/cmake/ringserve" "$tmp/example/CMakeCache.txt" ||
  fail "find_package(ringserve) did not use the prefix: $(grep ringserve_DIR "$tmp/example/CMakeCache.txt")"
cmake --build "$tmp/example" -j2 >"$tmp/example-build.log" 2>&1 ||
  { cat "$tmp/example-build.log"; fail "build examples/client"; }
# Headers from the prefix, not client-lib/include; the library from the prefix, not build/.
if grep -rqsF -e "$source/client-lib" -e "$build" "$tmp/example/CMakeFiles"; then
  fail "examples/client was compiled or linked against the source or build tree"
fi
for exe in ringserve-example-generate ringserve-example-generate-c; do
  lib=$(ldd "$tmp/example/$exe" | awk '$1 ~ /^libringserve_client/ {print $3}')
  [ "$lib" = "$prefix/lib/libringserve_client.so.0" ] || fail "$exe loads '$lib'"
done

step "examples/client/Makefile with pkg-config"
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
flags=$(pkg-config --cflags --libs ringserve)
for flag in "-I$prefix/include" "-L$prefix/lib" -lringserve_client; do
  case " $flags " in
    *" $flag "*) ;;
    *) fail "pkg-config --cflags --libs ringserve: '$flags' has no $flag" ;;
  esac
done
mkdir "$tmp/make"
(cd "$tmp/make" && make -f "$source/examples/client/Makefile") >"$tmp/make.log" 2>&1 ||
  { cat "$tmp/make.log"; fail "make -f examples/client/Makefile"; }
grep -qF -- "-I$prefix/include" "$tmp/make.log" ||
  { cat "$tmp/make.log"; fail "make did not use pkg-config's flags"; }

# Starts the installed daemon; waits until the installed ringctl reaches it.
start_daemon() {
  local name=$1 log=$2
  shift 2
  "$prefix/bin/ringserved" --name "$name" "$@" 2>"$log" &
  daemon_pid=$!
  daemon_name=$name
  for _ in $(seq 1 300); do
    "$prefix/bin/ringctl" --name "$name" status >/dev/null 2>&1 && return 0
    kill -0 "$daemon_pid" 2>/dev/null || { cat "$log"; fail "ringserved exited at start"; }
    sleep 0.1
  done
  cat "$log"
  fail "ringserved '$name' not ready after 30 s"
}

# SIGTERM must drain and exit 0 within a few seconds, leaving no segment behind.
stop_daemon() {
  local name=$1 log=$2
  kill -TERM "$daemon_pid"
  local status=0
  for _ in $(seq 1 100); do
    kill -0 "$daemon_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$daemon_pid" 2>/dev/null && { cat "$log"; fail "ringserved ignored SIGTERM for 10 s"; }
  wait "$daemon_pid" || status=$?
  daemon_pid=
  [ "$status" -eq 0 ] || { cat "$log"; fail "ringserved exited $status after SIGTERM"; }
  grep -q "ringserved '$name' stopped" "$log" || { cat "$log"; fail "no 'stopped' line"; }
  [ ! -e "/dev/shm/ringserve.$name" ] || fail "segment /dev/shm/ringserve.$name left behind"
}

# Runs one example; checks its exit status and the lines it printed.
run_example() {
  local expect_text=$1
  shift
  local out status=0
  out=$("$@" 2>"$tmp/example.err") || status=$?
  [ "$status" -eq 0 ] || { cat "$tmp/example.err"; fail "$* exited $status"; }
  printf '%s\n' "$out" | sed "s|^|  ${1##*/}: |"
  [ -z "$expect_text" ] || [ "$(printf '%s\n' "$out" | head -1)" = "$expect_text" ] ||
    fail "$*: printed '$out', expected '$expect_text' first"
  printf '%s\n' "$out" | grep -Eq '^finish: (length|stop)$' ||
    fail "$*: no 'finish:' line in '$out'"
}

name=ringserve-install-$$
step "installed ringserved, echo backend"
start_daemon "$name-echo" "$tmp/daemon-echo.log" --set model.backend=echo
# The echo backend streams the prompt back a character per token, over and over, up to the
# examples' max_tokens of 24.
echoed() { printf '%s%s%s' "$1" "$1" "$1" | cut -c1-24; }
for run in "example/ringserve-example-generate:hello from C++" \
  "example/ringserve-example-generate-c:hello from C" \
  "make/ringserve-example-generate-c:hello, pkg-config"; do
  run_example "$(echoed "${run#*:}")" "$tmp/${run%%:*}" "$name-echo" "${run#*:}"
done

step "the installed Python package (PYTHONPATH=prefix/lib/python3/dist-packages, no RINGSERVE_LIB)"
# Debian's python3, from outside the source tree: it must load the installed library by itself.
(cd "$tmp" && env -u RINGSERVE_LIB PYTHONPATH="$prefix/lib/python3/dist-packages" \
  PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 -c '
import os, sys
import ringserve
prefix, name = sys.argv[1:]
assert ringserve.__file__ == os.path.join(
    prefix, "lib/python3/dist-packages/ringserve/__init__.py"), ringserve.__file__
assert os.path.realpath(ringserve.library_path()).startswith(prefix + "/lib/"), (
    ringserve.library_path())
with ringserve.Client(name) as client:
    text = "".join(client.generate("py", max_tokens=4))
assert text == "pypy", repr(text)
print("  python:", ringserve.library_path(), repr(text))
' "$prefix" "$name-echo") || fail "the installed Python package"
stop_daemon "$name-echo" "$tmp/daemon-echo.log"

step "the examples report a missing daemon"
for exe in "$tmp/example/ringserve-example-generate" "$tmp/example/ringserve-example-generate-c"; do
  if "$exe" "$name-absent" >/dev/null 2>"$tmp/example.err"; then fail "$exe: no error"; fi
  grep -q "^error: daemon not running" "$tmp/example.err" ||
    fail "$exe: printed '$(cat "$tmp/example.err")'"
done

step "installed ringserved, built-in model (from the prefix, not the source tree)"
# Debug: a model this small reports its loading progress at debug level only.
start_daemon "$name-model" "$tmp/daemon-model.log" --set model.threads=2 \
  --set daemon.log_level=debug
grep "model" "$tmp/daemon-model.log" | sed 's/^/  /' || true
grep -q "\[info\] model $prefix/share/ringserve/models/builtin: " "$tmp/daemon-model.log" ||
  fail "the daemon did not run the installed built-in model"
grep -Eq "\[debug\] model: loading shard 1/1: model.safetensors \([0-9.]+ MiB\), [0-9.]+ s elapsed" \
  "$tmp/daemon-model.log" || fail "no shard progress in the daemon's log"
run_example "" "$tmp/example/ringserve-example-generate" "$name-model" "Once upon a time"
run_example "" "$tmp/make/ringserve-example-generate-c" "$name-model" "Once upon a time"
stop_daemon "$name-model" "$tmp/daemon-model.log"

step "installed ringserve-make-model: a sharded model, loaded shard by shard"
"$prefix/bin/ringserve-make-model" --preset tiny-llama --shards 3 --out "$tmp/sharded" >/dev/null
start_daemon "$name-sharded" "$tmp/daemon-sharded.log" --set model.path="$tmp/sharded" \
  --set model.threads=2 --set daemon.log_level=debug
grep "model: " "$tmp/daemon-sharded.log" | sed 's/^/  /' || true
# One line per shard, in file order: "loading shard 2/3: model-00002-of-00003.safetensors".
shards=$(grep -o "model: loading shard [0-9]/3: model-0000[0-9]-of-00003.safetensors" \
  "$tmp/daemon-sharded.log" | sed 's/.*shard \([0-9]\)\/3: model-0000\([0-9]\).*/\1\2/' |
  tr '\n' ' ' || true)
[ "$shards" = "11 22 33 " ] || { cat "$tmp/daemon-sharded.log"; fail "shard lines: '$shards'"; }
run_example "" "$tmp/example/ringserve-example-generate" "$name-sharded" "Hi"
stop_daemon "$name-sharded" "$tmp/daemon-sharded.log"

step "systemd units"
http_unit=$prefix/lib/systemd/system/ringserve-http@.service
grep -qx "ExecStart=$prefix/bin/ringserve-http --name %i --config /etc/ringserve/%i-http.conf" \
  "$http_unit" || fail "ExecStart in $http_unit: $(grep ExecStart "$http_unit")"
"$prefix/bin/ringserve-http" --help >/dev/null || fail "installed ringserve-http --help"
unit=$prefix/lib/systemd/system/ringserved@.service
grep -qx "ExecStart=$prefix/bin/ringserved --config /etc/ringserve/%i.toml --name %i" "$unit" ||
  fail "ExecStart in $unit: $(grep ExecStart "$unit")"
for key in "Restart=on-failure" "User=ringserve" "NoNewPrivileges=yes" "ProtectSystem=strict" \
  "WantedBy=multi-user.target"; do
  grep -qx "$key" "$unit" || fail "$unit has no '$key'"
done
# Each would give the daemon a /dev/shm of its own, which the clients do not see.
if grep -Eq '^PrivateDevices=(yes|true)|^(TemporaryFileSystem|InaccessiblePaths)=.*/dev' "$unit"; then
  fail "$unit hides /dev/shm"
fi
if command -v systemd-analyze >/dev/null; then
  # verify prints problems but exits 0 for most of them: any line naming the unit fails.
  verify=$(systemd-analyze verify --man=no "$unit" 2>&1 || true)
  if printf '%s\n' "$verify" | grep -F "ringserved@"; then fail "systemd-analyze verify $unit"; fi
  http_unit=$prefix/lib/systemd/system/ringserve-http@.service
  verify=$(systemd-analyze verify --man=no "$http_unit" 2>&1 || true)
  if printf '%s\n' "$verify" | grep -F "ringserve-http@"; then
    fail "systemd-analyze verify $http_unit"
  fi
  echo "systemd-analyze verify: ok"
else
  echo "systemd-analyze not installed: checked the unit's keys only"
fi
echo "ok"
