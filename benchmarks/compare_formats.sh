#!/bin/bash
# Weight formats served end to end, in one run: starts a ringserved per model.dtype on the same
# model, drives each with `ringserve-bench serve` ROUNDS times, alternating (float32, int8, int4,
# float32, ...) so drift on a noisy machine hits all, and prints each round's output tokens/s
# and each format's ratio of medians against float32. JSON of every round goes to OUTDIR.
#
#   benchmarks/compare_formats.sh MODEL_DIR [ROUNDS=3] [OUTDIR=/tmp/ringserve-formats]
#       [serve options, default: --clients 16 --requests 32 --max-tokens 32]
#
# FORMATS (default "float32 int8 int4") picks the formats; the first is the baseline.
# Needs build/ringserved, build/ringctl and build/ringserve-bench (scripts/build).
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: benchmarks/compare_formats.sh MODEL_DIR [ROUNDS] [OUTDIR] [serve options]}
rounds=${2:-3}
outdir=${3:-/tmp/ringserve-formats}
shift $(($# < 3 ? $# : 3))
serve_args=("$@")
[ ${#serve_args[@]} -gt 0 ] || serve_args=(--clients 16 --requests 32 --max-tokens 32)
read -r -a formats <<<"${FORMATS:-float32 int8 int4}"
mkdir -p "$outdir"

source benchmarks/daemon_lib.sh
trap stop_daemons EXIT

for format in "${formats[@]}"; do
  start_daemon "formats-$format-$$" "$outdir/$format.log" --set model.path="$model" \
    --set model.max_seq_len=256 --set model.dtype="$format"
done

# One unrecorded round per format first: page in the weights, warm the caches and thread pools.
for format in "${formats[@]}"; do
  build/ringserve-bench serve --name "formats-$format-$$" --clients 16 --requests 16 \
    --max-tokens 8 >/dev/null
done

for round in $(seq "$rounds"); do
  for format in "${formats[@]}"; do
    build/ringserve-bench serve --name "formats-$format-$$" "${serve_args[@]}" \
      --json "$outdir/$format-$round.json" >"$outdir/$format-$round.txt"
    echo "round $round $format: $(grep 'requests ok' "$outdir/$format-$round.txt")"
  done
done
for format in "${formats[@]}"; do
  build/ringctl status --name "formats-$format-$$" | grep -E '^(steps|weights|memory)' |
    sed "s/^/$format: /"
done

python3 - "$outdir" "$rounds" "${formats[@]}" <<'PY'
import json, statistics, sys
outdir, rounds, formats = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
tps = {f: [json.load(open(f"{outdir}/{f}-{r}.json"))["output_tokens_per_s"]
           for r in range(1, rounds + 1)] for f in formats}
base = formats[0]
for r in range(rounds):
    print(f"round {r + 1}: " + ", ".join(
        f"{f}/{base} = {tps[f][r] / tps[base][r]:.2f}" for f in formats[1:]))
med = {f: statistics.median(tps[f]) for f in formats}
print("median output tokens/s: " + ", ".join(f"{f} {med[f]:.1f}" for f in formats))
print("ratio of medians: " + ", ".join(f"{f}/{base} {med[f] / med[base]:.2f}" for f in formats[1:]))
PY
