#!/bin/sh
# The client library may depend only on the C/C++ runtime: no libtorch, no Boost shared
# library, no spdlog/fmt. Fails listing any other dependency.
set -eu
# With a second argument "sanitized", the sanitizer runtimes of a -fsanitize build are allowed.
lib="$1"
allowed='linux-vdso\.so|/lib64/ld-linux|libc\.so|libstdc\+\+\.so|libm\.so|libgcc_s\.so|librt\.so|libpthread\.so|libdl\.so'
if [ "${2:-}" = sanitized ]; then allowed="$allowed|libasan\.so|libubsan\.so"; fi
bad=$(ldd "$lib" | awk '{print $1}' | grep -Ev "^($allowed)" || true)
if [ -n "$bad" ]; then
  echo "unexpected dependencies of $lib:"
  echo "$bad"
  exit 1
fi
echo "ok: $(ldd "$lib" | awk '{print $1}' | tr '\n' ' ')"
