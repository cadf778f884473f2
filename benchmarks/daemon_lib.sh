# Sourced by the benchmark scripts: starting ringserved in the background and waiting until it
# serves. The caller is in the repository root with build/ built.
#
#   start_daemon NAME LOG [ringserved arguments...]
#       starts $RINGSERVED (default build/ringserved; another build's binary for an A/B)
#       --name NAME ARGS with stderr to LOG, appends its pid to the
#       array `daemon_pids`, and returns once `ringctl status` answers (60 s at most); if the
#       daemon exits or never answers, prints LOG and exits the script with 1.
#   stop_daemons
#       SIGTERMs every daemon started so far and waits for them; meant for `trap ... EXIT`.

daemon_pids=()

start_daemon() {
  local name=$1 log=$2
  shift 2
  "${RINGSERVED:-build/ringserved}" --name "$name" "$@" 2>"$log" &
  daemon_pids+=($!)
  local pid=$!
  for _ in $(seq 600); do
    build/ringctl status --name "$name" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "ringserved '$name' did not start:" >&2
  cat "$log" >&2
  exit 1
}

stop_daemons() {
  local p
  for p in "${daemon_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
