#!/bin/bash
# Batch vs interleave on the same model and load, in one run: starts a ringserved per
# scheduler mode, drives each with `ringserve-bench serve` ROUNDS times, alternating
# (batch, interleave, batch, ...) so drift on a noisy machine hits both, and prints each
# round's output tokens/s and the ratio of the medians. JSON of every round goes to OUTDIR.
#
#   benchmarks/compare_modes.sh MODEL_DIR [ROUNDS=3] [OUTDIR=/tmp/ringserve-modes]
#       [serve options, default: --clients 16 --requests 64 --max-tokens 32]
#
# Needs build/ringserved, build/ringctl and build/ringserve-bench (scripts/build).
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: benchmarks/compare_modes.sh MODEL_DIR [ROUNDS] [OUTDIR] [serve options]}
rounds=${2:-3}
outdir=${3:-/tmp/ringserve-modes}
shift $(($# < 3 ? $# : 3))
serve_args=("$@")
[ ${#serve_args[@]} -gt 0 ] || serve_args=(--clients 16 --requests 64 --max-tokens 32)
mkdir -p "$outdir"

source benchmarks/daemon_lib.sh
trap stop_daemons EXIT

for mode in batch interleave; do
  start_daemon "modes-$mode-$$" "$outdir/$mode.log" --set model.path="$model" \
    --set model.max_seq_len=256 --set scheduler.mode="$mode"
done

# One unrecorded round per mode first: page in the weights, warm the caches and thread pools.
for mode in batch interleave; do
  build/ringserve-bench serve --name "modes-$mode-$$" --clients 16 --requests 16 --max-tokens 8 \
    >/dev/null
done

for round in $(seq "$rounds"); do
  for mode in batch interleave; do
    build/ringserve-bench serve --name "modes-$mode-$$" "${serve_args[@]}" \
      --json "$outdir/$mode-$round.json" >"$outdir/$mode-$round.txt"
    echo "round $round $mode: $(grep 'requests ok' "$outdir/$mode-$round.txt")"
  done
done
for mode in batch interleave; do
  build/ringctl status --name "modes-$mode-$$" | grep '^steps' | sed "s/^/$mode: /"
done

python3 - "$outdir" "$rounds" <<'PY'
import json, statistics, sys
outdir, rounds = sys.argv[1], int(sys.argv[2])
tps = {m: [json.load(open(f"{outdir}/{m}-{r}.json"))["output_tokens_per_s"]
           for r in range(1, rounds + 1)] for m in ("batch", "interleave")}
for r in range(rounds):
    print(f"round {r + 1}: batch/interleave = {tps['batch'][r] / tps['interleave'][r]:.2f}")
b, i = statistics.median(tps["batch"]), statistics.median(tps["interleave"])
print(f"median output tokens/s: batch {b:.1f}, interleave {i:.1f}, ratio {b / i:.2f}")
PY
