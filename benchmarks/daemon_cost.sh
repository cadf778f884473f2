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
source benchmarks/daemon_lib.sh
trap 'stop_daemons; rm -f "$log"' EXIT
start_daemon "$name" "$log" --set model.backend=echo --set model.echo_step_delay_us="$delay_us" \
  --set transport.slots=$((clients + 44)) --set scheduler.max_concurrent="$clients" \
  --set scheduler.max_queue=64 --set transport.prompt_bytes=1024 \
  --set scheduler.max_tokens_limit=100000
build/ringserve-bench serve --name "$name" --clients "$clients" --requests $((clients * 2)) \
  --max-tokens "$max_tokens" --prompt-chars 512
build/ringctl status --name "$name" | grep '^steps'
