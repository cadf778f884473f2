#!/bin/bash
# The Python client as a pip package, installed the way a user would from the tree:
#   check_python_package.sh BUILD_DIR SOURCE_DIR
# builds and installs client-lib/python with Debian's python3 and pip, offline (--no-index
# --no-build-isolation: setuptools and wheel from python3-setuptools / python3-wheel), into a
# temporary --target directory, from a copy of the folder (so the tree stays clean), and runs
# the installed package against a real ringserved (echo backend) with RINGSERVE_LIB naming
# this build's library. (tests/install/check_install.sh checks the copy cmake --install puts
# in lib/python3/dist-packages, which finds the installed library by itself.)
set -euo pipefail

build=$(cd "$1" && pwd)
source=$(cd "$2" && pwd)
python=${RINGSERVE_TEST_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d /tmp/ringserve-python-package-test.XXXXXX)
daemon_pid=
name=ringserve-pypkg-$$

cleanup() {
  if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

for module in pip setuptools wheel; do
  "$python" -c "import $module" 2>/dev/null ||
    fail "$python has no $module module (scripts/install-deps installs python3-$module)"
done

echo "== pip install --no-index --no-build-isolation --target $tmp/site"
cp -r "$source/client-lib/python" "$tmp/src"
rm -rf "$tmp/src/build" "$tmp/src"/*.egg-info
PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 "$python" -m pip install --no-index \
  --no-build-isolation --no-deps --target "$tmp/site" "$tmp/src" >"$tmp/pip.log" 2>&1 ||
  { cat "$tmp/pip.log"; fail "pip install"; }
for f in ringserve/__init__.py ringserve/_native.py ringserve/client.py ringserve/aio.py \
  ringserve/errors.py; do
  [ -e "$tmp/site/$f" ] || fail "pip did not install $f"
done
ls -d "$tmp/site"/ringserve-*.dist-info >/dev/null || fail "no ringserve-*.dist-info"
[ ! -e "$tmp/site/ringserve/_install_layout.py" ] ||
  fail "_install_layout.py is cmake --install's, not pip's"

echo "== the installed package against ringserved (echo backend)"
"$build/ringserved" --name "$name" --set model.backend=echo 2>"$tmp/daemon.log" &
daemon_pid=$!
cd "$tmp"  # nothing of the source tree on the path
PYTHONPATH="$tmp/site" RINGSERVE_LIB="$build/libringserve_client.so" PYTHONDONTWRITEBYTECODE=1 \
  "$python" - "$name" "$tmp/site" "$build" <<'PY' || { cat "$tmp/daemon.log"; fail "python"; }
import os
import sys
import time

import ringserve

name, site, build = sys.argv[1:]
assert ringserve.__file__.startswith(site + os.sep), ringserve.__file__
assert os.path.realpath(ringserve.library_path()) == os.path.realpath(
    os.path.join(build, "libringserve_client.so")), ringserve.library_path()
deadline = time.monotonic() + 30
while True:
    try:
        client = ringserve.Client(name)
        break
    except ringserve.DaemonNotRunning:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.1)
with client:
    text = "".join(client.generate("abc", max_tokens=3))
    assert text == "abc", repr(text)
print("ok: ringserve", ringserve.__version__, "from", ringserve.__file__, "generated", repr(text))
PY
echo "ok"
