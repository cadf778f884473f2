#!/bin/bash
# The prefix cache's effect, in one run: starts two ringserved on the same model, one with
# scheduler.prefix_cache=false and one with true, and drives each with `ringserve-bench chat`
# ROUNDS times, alternating (off, on, off, ...) so drift on a noisy machine hits both. Each
# round uses texts of its own (--seed), so the cache never finds an earlier round's
# conversation. Prints each round's time to first token by turn and prompt tokens computed, and
# the ratios off/on of the last turn's TTFT and of the prompt tokens computed. JSON of every
# round goes to OUTDIR.
#
#   benchmarks/compare_prefix_cache.sh MODEL_DIR [ROUNDS=2] [OUTDIR=/tmp/ringserve-prefix]
#       [chat options, default: --clients 1 --turns 8 --system-chars 2000]
#
# DTYPE (default float32) is the daemons' model.dtype; MAX_SEQ_LEN (default 2048) their
# context. Needs build/ringserved, build/ringctl and build/ringserve-bench (scripts/build).
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: benchmarks/compare_prefix_cache.sh MODEL_DIR [ROUNDS] [OUTDIR] [chat options]}
rounds=${2:-2}
outdir=${3:-/tmp/ringserve-prefix}
shift $(($# < 3 ? $# : 3))
chat_args=("$@")
[ ${#chat_args[@]} -gt 0 ] || chat_args=(--clients 1 --turns 8 --system-chars 2000)
mkdir -p "$outdir"

source benchmarks/daemon_lib.sh
trap stop_daemons EXIT

for cache in false true; do
  start_daemon "prefix-$cache-$$" "$outdir/$cache.log" --set model.path="$model" \
    --set model.max_seq_len="${MAX_SEQ_LEN:-2048}" --set model.dtype="${DTYPE:-float32}" \
    --set scheduler.prefix_cache=$cache
done

# One unrecorded short chat per daemon first: page in the weights, warm the thread pools.
for cache in false true; do
  build/ringserve-bench chat --name "prefix-$cache-$$" --turns 2 --system-chars 200 \
    --max-tokens 4 --seed 999 >/dev/null
done

for round in $(seq "$rounds"); do
  for cache in false true; do
    build/ringserve-bench chat --name "prefix-$cache-$$" "${chat_args[@]}" --seed "$round" \
      --json "$outdir/$cache-$round.json" >"$outdir/$cache-$round.txt"
    echo "round $round, prefix cache $cache: $(grep '^prompt tokens' "$outdir/$cache-$round.txt")"
  done
done
for cache in false true; do
  build/ringctl status --name "prefix-$cache-$$" | grep -iE '^(kv|prefix|steps|memory)' |
    sed "s/^/prefix cache $cache: /" || true
done

python3 - "$outdir" "$rounds" <<'PY'
import json, sys
outdir, rounds = sys.argv[1], int(sys.argv[2])
for r in range(1, rounds + 1):
    off = json.load(open(f"{outdir}/false-{r}.json"))
    on = json.load(open(f"{outdir}/true-{r}.json"))
    fmt = lambda xs: " ".join(f"{x:.0f}" for x in xs)
    print(f"round {r}: ttft p50 ms by turn, off: {fmt(off['ttft_ms_by_turn'])}")
    print(f"round {r}: ttft p50 ms by turn, on:  {fmt(on['ttft_ms_by_turn'])}")
    last = len(off["ttft_ms_by_turn"]) - 1
    print(f"round {r}: last turn ttft off/on {off['ttft_ms_by_turn'][last] / on['ttft_ms_by_turn'][last]:.1f}x; "
          f"prompt tokens computed off {off['prompt_tokens_computed']}, on {on['prompt_tokens_computed']} "
          f"({off['prompt_tokens_computed'] / max(on['prompt_tokens_computed'], 1):.1f}x fewer); "
          f"first turn ttft off/on {off['ttft_ms_by_turn'][0] / on['ttft_ms_by_turn'][0]:.2f}x")
PY
