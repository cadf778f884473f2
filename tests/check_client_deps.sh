#!/bin/sh
# The client library may depend only on the C/C++ runtime: no libtorch, no Boost shared
# library, no spdlog/fmt. Fails listing any other dependency.
set -eu
lib="$1"
bad=$(ldd "$lib" | awk '{print $1}' |
  grep -Ev '^(linux-vdso\.so|/lib64/ld-linux|libc\.so|libstdc\+\+\.so|libm\.so|libgcc_s\.so|librt\.so|libpthread\.so|libdl\.so)' ||
  true)
if [ -n "$bad" ]; then
  echo "unexpected dependencies of $lib:"
  echo "$bad"
  exit 1
fi
echo "ok: $(ldd "$lib" | awk '{print $1}' | tr '\n' ' ')"
