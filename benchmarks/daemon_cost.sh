#!/bin/bash
# The daemon's own cost per step with many running sequences: an echo-backend ringserved whose
# "model" step is a fixed sleep (so the step is all daemon work plus that delay), driven by
# `ringserve-bench serve` with one client process per sequence; prints the bench summary and
# the daemon's per-step accounting from `ringctl status` (loop thread CPU per step, and the
# wake-notifier thread's CPU per step, reported apart).
#
#   benchmarks/daemon_cost.sh [CLIENTS=256] [STEP_DELAY_US=2000] [MAX_TOKENS=512]
#
# Needs build/ringserved, build/ringctl and build/ringserve-bench (scripts/build).
set -euo pipefail
cd "$(dirname "$0")/.."
clients=${1:-256}
delay_us=${2:-2000}
max_tokens=${3:-512}
name="daemon-cost-$$"
log=$(mktemp)
build/ringserved --name "$name" --set model.backend=echo --set model.echo_step_delay_us="$delay_us" \
  --set transport.slots=$((clients + 44)) --set scheduler.max_concurrent="$clients" \
  --set scheduler.max_queue=64 --set transport.prompt_bytes=1024 \
  --set scheduler.max_tokens_limit=100000 2>"$log" &
daemon=$!
trap 'kill $daemon 2>/dev/null || true; wait $daemon 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do
  build/ringctl status --name "$name" >/dev/null 2>&1 && break
  kill -0 $daemon 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.1
done
build/ringserve-bench serve --name "$name" --clients "$clients" --requests $((clients * 2)) \
  --max-tokens "$max_tokens" --prompt-chars 512
build/ringctl status --name "$name" | grep '^steps'
