#!/bin/bash
# HTTP against shared memory on the same daemon and load: starts one ringserved and a
# ringserve-http in front of it, then `ringserve-bench http`, which alternates rounds of the
# same requests through the gateway (streaming SSE) and through the shared-memory client.
#
#   benchmarks/compare_http_shm.sh [echo|builtin|MODEL_DIR] [OUTDIR=/tmp/ringserve-http-bench]
#       [http options, default: --clients 16 --requests 2 --rounds 6 --max-tokens 64]
#
# echo (default): the echo backend with a model-like step of ECHO_STEP_US (default 25000) us.
# builtin: the built-in model. BUSY=1 runs a competing busy loop (one core) throughout.
# Needs build/ringserved, build/ringctl, build/ringserve-http, build/ringserve-bench.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-echo}
outdir=${2:-/tmp/ringserve-http-bench}
shift $(($# < 2 ? $# : 2))
bench_args=("$@")
[ ${#bench_args[@]} -gt 0 ] || bench_args=(--clients 16 --requests 2 --rounds 6 --max-tokens 64)
mkdir -p "$outdir"

source benchmarks/daemon_lib.sh
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  stop_daemons
}
trap cleanup EXIT

name="http-bench-$$"
case "$backend" in
  echo) model_args=(--set model.backend=echo --set model.echo_step_delay_us="${ECHO_STEP_US:-25000}") ;;
  builtin) model_args=() ;;
  *) model_args=(--set model.path="$backend") ;;
esac
start_daemon "$name" "$outdir/daemon.log" "${model_args[@]}"

build/ringserve-http --name "$name" --port 0 2>"$outdir/http.log" &
pids+=($!)
port=
for _ in $(seq 100); do
  port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$outdir/http.log")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "ringserve-http did not start:" >&2; cat "$outdir/http.log" >&2; exit 1; }

if [ "${BUSY:-0}" = 1 ]; then
  bash -c 'while :; do :; done' &
  pids+=($!)
  echo "competing busy loop: pid ${pids[-1]}"
fi
build/ringserve-bench http --name "$name" --port "$port" --json "$outdir/http-$backend.json" \
  "${bench_args[@]}"
