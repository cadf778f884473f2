#!/bin/bash
# Batch vs interleave over a range of concurrency levels, for the plots in docs/BENCHMARKS.md
# (benchmarks/plot_benchmarks.py). Like compare_modes.sh: one ringserved per scheduler.mode on
# the same model with the same settings, both warmed with one unrecorded run, then
# `ringserve-bench serve` runs (closed loop) that alternate batch and interleave at each client
# count, so drift on a noisy machine hits both modes alike. Rounds are the outer loop, so each
# (mode, clients) point's rounds are spread over the whole sweep; which mode goes first flips
# every round.
#
#   benchmarks/sweep_modes.sh MODEL_DIR OUTDIR [--clients-list 1,2,4,8,16]
#       [--requests-per-client 4] [--max-tokens 32] [--rounds 3] [--prompt-chars 64]
#       [--set KEY=VALUE]...   (more ringserved settings, given to both daemons)
#
# Writes OUTDIR/MODE-cCLIENTS-rROUND.json (the serve JSON) and .txt (its table) per run,
# OUTDIR/MODE.log per daemon, and OUTDIR/sweep.json:
#   {"metadata": {model, date, machine, CPU, ringserved settings, load, ...},
#    "records": [{"mode", "clients", "round", "order", ...every field of the serve JSON}]}
# Defaults take about 3-4 minutes for GPT-2 small on 2 cores; models/builtin takes seconds.
# Needs build/ringserved, build/ringctl and build/ringserve-bench (scripts/build).
set -euo pipefail
usage="usage: benchmarks/sweep_modes.sh MODEL_DIR OUTDIR [--clients-list 1,2,4,8,16] \
[--requests-per-client R] [--max-tokens K] [--rounds N] [--prompt-chars C] [--set KEY=VALUE]..."
[ $# -ge 2 ] || { echo "$usage" >&2; exit 2; }
model=$1 outdir=$2
shift 2
clients_list=1,2,4,8,16 requests_per_client=4 max_tokens=32 rounds=3 prompt_chars=64
extra_sets=()
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || { echo "sweep_modes.sh: $1 needs a value" >&2; echo "$usage" >&2; exit 2; }
  case $1 in
    --clients-list) clients_list=$2 ;;
    --requests-per-client) requests_per_client=$2 ;;
    --max-tokens) max_tokens=$2 ;;
    --rounds) rounds=$2 ;;
    --prompt-chars) prompt_chars=$2 ;;
    --set) extra_sets+=(--set "$2") ;;
    *) echo "sweep_modes.sh: unknown option $1" >&2; echo "$usage" >&2; exit 2 ;;
  esac
  shift 2
done
positive='^[1-9][0-9]*$'
IFS=, read -r -a clients <<<"$clients_list"
[ ${#clients[@]} -gt 0 ] || { echo "sweep_modes.sh: --clients-list is empty" >&2; exit 2; }
for c in "${clients[@]}" "$requests_per_client" "$rounds"; do
  [[ $c =~ $positive ]] || { echo "sweep_modes.sh: '$c' is not a positive integer" >&2; exit 2; }
done
[ -d "$model" ] || { echo "sweep_modes.sh: model directory $model not found" >&2; exit 2; }
model=$(cd "$model" && pwd)
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
cd "$(dirname "$0")/.."

max_clients=0
for c in "${clients[@]}"; do if [ "$c" -gt "$max_clients" ]; then max_clients=$c; fi; done
# Every client of the largest level must run at once (scheduler.max_concurrent, default 16) or
# batch mode is capped below the load; the waiting line (max_queue, default 64) then stays empty.
max_concurrent=$((max_clients > 16 ? max_clients : 16))
sets=(--set model.path="$model" --set model.max_seq_len=256
  --set scheduler.max_concurrent="$max_concurrent" "${extra_sets[@]}")

source benchmarks/daemon_lib.sh
trap stop_daemons EXIT

started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
load_start=$(cut -d" " -f1-3 /proc/loadavg)  # others on the machine make noise
for mode in batch interleave; do
  start_daemon "sweep-$mode-$$" "$outdir/$mode.log" "${sets[@]}" --set scheduler.mode="$mode"
done

# One unrecorded run per mode first: page in the weights, warm the caches and thread pools.
for mode in batch interleave; do
  build/ringserve-bench serve --name "sweep-$mode-$$" --clients "$max_clients" \
    --requests "$max_clients" --max-tokens 8 --prompt-chars "$prompt_chars" >/dev/null
done

order=0
for round in $(seq "$rounds"); do
  modes=(batch interleave)
  if [ $((round % 2)) -eq 0 ]; then modes=(interleave batch); fi
  for c in "${clients[@]}"; do
    for mode in "${modes[@]}"; do
      order=$((order + 1))
      run="$outdir/$mode-c$c-r$round"
      build/ringserve-bench serve --name "sweep-$mode-$$" --clients "$c" \
        --requests $((c * requests_per_client)) --max-tokens "$max_tokens" \
        --prompt-chars "$prompt_chars" --json "$run.json" >"$run.txt"
      echo "$order: round $round, $c clients, $mode: $(grep 'requests ok' "$run.txt")"
      printf '%s %s %s %s %s\n' "$order" "$mode" "$c" "$round" "$run.json" >>"$outdir/runs.txt.$$"
    done
  done
done
finished=$(date -u +%Y-%m-%dT%H:%M:%SZ)
load_end=$(cut -d" " -f1-3 /proc/loadavg)
for mode in batch interleave; do
  build/ringctl status --name "sweep-$mode-$$" --json >"$outdir/$mode-status.json"
done

cpu_model=$(grep -m1 -E '^(model name|Model|cpu model|Hardware)[[:space:]]*:' /proc/cpuinfo \
  2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
[ -n "$cpu_model" ] || cpu_model=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1 || true)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit="$commit (with uncommitted changes)"

SWEEP_MODEL="$model" SWEEP_STARTED="$started" SWEEP_FINISHED="$finished" \
SWEEP_ARCH="$(uname -m)" SWEEP_KERNEL="$(uname -sr)" SWEEP_CPU="$cpu_model" \
SWEEP_CPUS="$(nproc)" SWEEP_COMMIT="$commit" SWEEP_HOST="$(hostname)" \
SWEEP_CLIENTS="$clients_list" SWEEP_RPC="$requests_per_client" SWEEP_MAXTOK="$max_tokens" \
SWEEP_ROUNDS="$rounds" SWEEP_PROMPT="$prompt_chars" SWEEP_LOAD0="$load_start" SWEEP_LOAD1="$load_end" \
python3 - "$outdir" "$outdir/runs.txt.$$" "${sets[@]}" <<'PY'
import json, os, re, statistics, sys
outdir, runs_path, sets = sys.argv[1], sys.argv[2], sys.argv[3:]
env = os.environ
settings = [sets[i + 1] for i in range(0, len(sets), 2) if sets[i] == "--set"]
model_config = {}
try:
    with open(os.path.join(env["SWEEP_MODEL"], "config.json")) as f:
        config = json.load(f)
    keys = ("model_type", "architectures", "num_hidden_layers", "n_layer", "hidden_size",
            "n_embd", "num_attention_heads", "n_head", "num_key_value_heads", "vocab_size",
            "torch_dtype")
    model_config = {k: config[k] for k in keys if k in config}
except (OSError, ValueError):
    pass
daemons = {}
for mode in ("batch", "interleave"):
    d = {"settings": settings + [f"scheduler.mode={mode}"]}
    with open(os.path.join(outdir, f"{mode}.log"), errors="replace") as f:
        for line in f:  # the daemon's own summary of the model and of itself
            m = re.search(r"\] (model .*)$", line)
            if m and "model_line" not in d:
                d["model_line"] = m.group(1)
            m = re.search(r"\] (ringserved .* ready: .*)$", line)
            if m and "ready_line" not in d:
                d["ready_line"] = m.group(1)
    with open(os.path.join(outdir, f"{mode}-status.json")) as f:
        status = json.load(f)
    d["status_at_end"] = {k: status[k] for k in (
        "max_concurrent", "max_queue", "steps", "tokens_generated", "backend_ms_per_step",
        "daemon_us_per_step", "wake_thread_us_per_step", "wait_mode") if k in status}
    daemons[mode] = d
records = []
with open(runs_path) as f:
    for line in f:
        order, mode, clients, rnd, path = line.split(maxsplit=4)
        with open(path.strip()) as jf:
            serve = json.load(jf)
        record = {"mode": mode, "clients": int(clients), "round": int(rnd), "order": int(order)}
        record.update({k: v for k, v in serve.items() if k not in record})
        records.append(record)
os.remove(runs_path)
metadata = {
    "tool": "benchmarks/sweep_modes.sh",
    "model_dir": env["SWEEP_MODEL"],
    "model_name": os.path.basename(env["SWEEP_MODEL"].rstrip("/")),
    "model_config": model_config,
    "date": env["SWEEP_STARTED"][:10],
    "started": env["SWEEP_STARTED"],
    "finished": env["SWEEP_FINISHED"],
    "machine": env["SWEEP_ARCH"],
    "kernel": env["SWEEP_KERNEL"],
    "cpu_model": env["SWEEP_CPU"],
    "online_cpus": int(env["SWEEP_CPUS"]),
    "hostname": env["SWEEP_HOST"],
    "loadavg_start": env["SWEEP_LOAD0"],  # 1, 5, 15 min, from /proc/loadavg
    "loadavg_end": env["SWEEP_LOAD1"],
    "commit": env["SWEEP_COMMIT"],
    "ringserved": daemons,
    "load": {
        "clients_list": [int(c) for c in env["SWEEP_CLIENTS"].split(",")],
        "requests_per_client": int(env["SWEEP_RPC"]),
        "max_tokens": int(env["SWEEP_MAXTOK"]),
        "prompt_chars": int(env["SWEEP_PROMPT"]),
        "rounds": int(env["SWEEP_ROUNDS"]),
        "loop": "closed",
        "warm_up": "one unrecorded run per mode at the largest client count, max_tokens 8",
    },
}
with open(os.path.join(outdir, "sweep.json"), "w") as f:
    json.dump({"metadata": metadata, "records": records}, f, indent=2)
    f.write("\n")
print(f"{'clients':>8} {'batch tok/s':>12} {'interleave tok/s':>17} {'ratio':>6}  (medians)")
for c in metadata["load"]["clients_list"]:
    med = {m: statistics.median(r["output_tokens_per_s"] for r in records
                                if r["mode"] == m and r["clients"] == c)
           for m in ("batch", "interleave")}
    ratio = med["batch"] / med["interleave"] if med["interleave"] > 0 else float("nan")
    print(f"{c:>8} {med['batch']:>12.1f} {med['interleave']:>17.1f} {ratio:>6.2f}")
print(f"wrote {os.path.join(outdir, 'sweep.json')} ({len(records)} runs); plot with "
      f"benchmarks/plot_benchmarks.py {os.path.join(outdir, 'sweep.json')} OUTDIR")
PY
