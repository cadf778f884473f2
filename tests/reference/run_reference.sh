#!/usr/bin/env bash
# The reference comparison (ctest tokenizer_reference): runs reference.js with the Hugging Face
# tokenizers library, then compare_with_reference on its output. Exits 77 (ctest: skipped) when
# the npm packages are not installed here (scripts/test installs them: `npm ci` in this folder).
# usage: run_reference.sh COMPARE_WITH_REFERENCE_BINARY
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
compare="$1"
if ! command -v node >/dev/null || [ ! -d "$here/node_modules/tokenizers" ]; then
  echo "tokenizer_reference: skipped: run 'npm ci' in $here (scripts/test does)"
  exit 77
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
node "$here/reference.js" >"$out/reference.json"
"$compare" "$out/reference.json"
