#!/usr/bin/env python3
"""Plots for docs/BENCHMARKS.md from a benchmarks/sweep_modes.sh sweep.

    benchmarks/plot_benchmarks.py SWEEP_JSON OUTDIR

SWEEP_JSON is sweep_modes.sh's OUTDIR/sweep.json: {"metadata": {...}, "records": [...]}, or a
bare list of records. A record is one `ringserve-bench serve --json` run plus "mode",
"clients" and "round". Writes, into OUTDIR:

  throughput_vs_concurrency.png  output tokens/s vs client processes, one line per mode
                                 (median over rounds, bars from min to max), and the ratio of
                                 the batch and interleave medians on the right axis
  latency_percentiles.png        TTFT, inter-token and end-to-end latency p50/p90/p99 vs
                                 client processes per mode (medians over rounds, log scale)

Needs matplotlib (Debian: python3-matplotlib, which scripts/install-deps installs; it is for
/usr/bin/python3, and this script re-runs itself with that interpreter when the python3 on
PATH has no matplotlib). Draws with the Agg backend: no display needed.
Exit status: 0 written, 2 bad arguments or malformed SWEEP_JSON, 3 matplotlib missing.
"""

import argparse
import json
import math
import os
import statistics
import sys
import textwrap

PROG = "plot_benchmarks.py"
DEBIAN_PYTHON = "/usr/bin/python3"
LATENCIES = (("ttft", "time to first token", "TTFT"), ("itl", "inter-token", "inter-token gap"),
             ("end_to_end", "end to end", "end-to-end time"))
PERCENTILES = (("p50_ms", "p50", "-", "o"), ("p90_ms", "p90", "--", "s"),
               ("p99_ms", "p99", ":", "^"))
MODE_COLORS = {"batch": "tab:blue", "interleave": "tab:orange"}
MODE_LABELS = {"batch": "batch (continuous batching)",
               "interleave": "interleave (one sequence per step)"}
THROUGHPUT_PNG = "throughput_vs_concurrency.png"
LATENCY_PNG = "latency_percentiles.png"


class SweepError(Exception):
    pass


def fail(message, status=2):
    print(f"{PROG}: {message}", file=sys.stderr)
    sys.exit(status)


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def load_sweep(path):
    """Returns (metadata, records) or raises SweepError saying what is wrong and where."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise SweepError(f"cannot read {path}: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise SweepError(f"{path} is not UTF-8 text: {e}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise SweepError(f"{path} is not valid JSON: line {e.lineno} column {e.colno}: "
                         f"{e.msg}") from None
    metadata = {}
    if isinstance(data, dict):
        if not isinstance(data.get("records"), list):
            raise SweepError(f"{path}: expected a 'records' list (the sweep.json of "
                             "benchmarks/sweep_modes.sh) or a list of records")
        metadata = data.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise SweepError(f"{path}: 'metadata' must be an object")
        records = data["records"]
    elif isinstance(data, list):
        records = data
    else:
        raise SweepError(f"{path}: expected an object with a 'records' list or a list of "
                         f"records, not {type(data).__name__}")
    if not records:
        raise SweepError(f"{path}: no records to plot")
    for i, r in enumerate(records):
        where = f"{path}: record {i}"
        if not isinstance(r, dict):
            raise SweepError(f"{where}: expected an object, not {type(r).__name__}")
        if not isinstance(r.get("mode"), str) or not r["mode"]:
            raise SweepError(f"{where}: 'mode' (batch or interleave) is missing or not a string")
        clients = r.get("clients")
        if not isinstance(clients, int) or isinstance(clients, bool) or clients < 1:
            raise SweepError(f"{where}: 'clients' is missing or not a positive integer")
        where += f" ({r['mode']}, {clients} client{'s' if clients != 1 else ''})"
        if "round" in r and not (isinstance(r["round"], int) and not isinstance(r["round"], bool)):
            raise SweepError(f"{where}: 'round' is not an integer")
        if not is_number(r.get("output_tokens_per_s")) or r["output_tokens_per_s"] < 0:
            raise SweepError(f"{where}: 'output_tokens_per_s' is missing or not a number >= 0")
        for key, _, _ in LATENCIES:
            if not isinstance(r.get(key), dict):
                raise SweepError(f"{where}: '{key}' (a latency summary) is missing")
            for p, _, _, _ in PERCENTILES:
                v = r[key].get(p)
                if not is_number(v) or v < 0:
                    raise SweepError(f"{where}: '{key}.{p}' is missing or not a number >= 0")
        if r.get("errors") or r.get("requests_ok", 1) == 0:
            print(f"{PROG}: warning: {where} had failed requests: {r.get('errors')}",
                  file=sys.stderr)
    return metadata, records


def import_pyplot():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        return plt
    except ImportError as e:
        reason = str(e)
    # Debian's python3-matplotlib lives in /usr/bin/python3's dist-packages; a python3 from
    # pyenv, a venv or conda earlier on PATH does not see it.
    if (os.environ.get("RINGSERVE_PLOT_REEXEC") != "1" and os.path.exists(DEBIAN_PYTHON)
            and os.path.realpath(sys.executable) != os.path.realpath(DEBIAN_PYTHON)):
        os.environ["RINGSERVE_PLOT_REEXEC"] = "1"
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(DEBIAN_PYTHON, [DEBIAN_PYTHON, os.path.abspath(__file__)] + sys.argv[1:])
    hint = "" if os.path.realpath(sys.executable) == os.path.realpath(DEBIAN_PYTHON) else (
        f" and run this script with {DEBIAN_PYTHON}, or use a python3 that has matplotlib")
    fail(f"matplotlib is missing ({reason}). Install Debian's python3-matplotlib "
         f"(scripts/install-deps, or apt-get install python3-matplotlib){hint}.", 3)


def ordered_modes(records):
    modes = sorted({r["mode"] for r in records})
    known = [m for m in ("batch", "interleave") if m in modes]
    return known + [m for m in modes if m not in known]


def by_point(records, value):
    """{(mode, clients): [value(record) for each round]}"""
    points = {}
    for r in records:
        points.setdefault((r["mode"], r["clients"]), []).append(value(r))
    return points


def model_label(metadata):
    name = metadata.get("model_name") or os.path.basename(
        str(metadata.get("model_dir", "")).rstrip("/"))
    line = None
    for d in (metadata.get("ringserved") or {}).values():
        if isinstance(d, dict) and isinstance(d.get("model_line"), str):
            line = d["model_line"]
            break
    if line:  # "model PATH: llama, 4 layers, ...; cpu float32, 2 threads, ...; weights ..."
        desc = line.split(": ", 1)[-1]
        desc = "; ".join(part for part in desc.split("; ") if not part.startswith(
            ("weights", "KV cache", "chat template")))
        return f"{name}: {desc}" if name else desc
    config = metadata.get("model_config") or {}
    parts = []
    if config.get("model_type"):
        parts.append(str(config["model_type"]))
    layers = config.get("num_hidden_layers", config.get("n_layer"))
    hidden = config.get("hidden_size", config.get("n_embd"))
    if layers:
        parts.append(f"{layers} layers")
    if hidden:
        parts.append(f"hidden {hidden}")
    desc = ", ".join(parts)
    if name and desc:
        return f"{name}: {desc}"
    return name or desc


def footer(metadata, records):
    bits = []
    date = metadata.get("date") or str(metadata.get("started", ""))[:10]
    if date:
        bits.append(date)
    cpu = metadata.get("cpu_model")
    if cpu or metadata.get("machine"):
        cpus = metadata.get("online_cpus")
        bits.append(", ".join(str(x) for x in (
            cpu, f"{cpus} CPUs" if cpus else None, metadata.get("machine")) if x))
    load = metadata.get("load") or {}
    if load:
        bits.append(f"{load.get('loop', 'closed')} loop, {load.get('requests_per_client')} "
                    f"requests per client, max_tokens {load.get('max_tokens')}, prompt "
                    f"{load.get('prompt_chars')} chars")
    rounds = len({r.get("round") for r in records})
    bits.append(f"{rounds} round{'s' if rounds != 1 else ''}")
    if metadata.get("loadavg_start"):
        bits.append(f"load avg {metadata['loadavg_start'].split()[0]} -> "
                    f"{str(metadata.get('loadavg_end', '?')).split()[0]}")
    if metadata.get("commit"):
        bits.append(f"ringserve {metadata['commit']}")
    return " · ".join(bits)


def titles(fig, title, metadata, records):
    label = model_label(metadata)
    # The model line can be wider than a narrow figure: wrap it to the figure's width in
    # characters (about 11 per inch at this size) instead of letting it run off both edges.
    width = int(fig.get_figwidth() * 11)
    label = "\n".join(textwrap.wrap(label, width)) if label else ""
    fig.suptitle(title + (f"\n{label}" if label else ""), fontsize=11)
    fig.text(0.5, 0.01, footer(metadata, records), ha="center", va="bottom", fontsize=7.5,
             color="0.3", wrap=True)


def set_clients_axis(ax, clients):
    ax.set_xscale("log", base=2)
    ax.set_xticks(clients)
    ax.set_xticklabels([str(c) for c in clients])
    ax.minorticks_off()
    if len(clients) == 1:
        ax.set_xlim(clients[0] / 1.5, clients[0] * 1.5)
    ax.set_xlabel("concurrent client processes (closed loop)")


def log_ms_axis(plt, ax):
    """Log y axis labelled in plain milliseconds (1, 2, 5, 10, ...; every digit when the data
    span less than a decade, so a narrow range still gets labels)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    ax.set_yscale("log")
    lo, hi = ax.get_ylim()
    subs = (1.0, 2.0, 5.0) if hi / lo >= 10 else tuple(float(d) for d in range(1, 10))
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_locator(LogLocator(base=10, subs=tuple(float(d) for d in range(1, 10))))
    ax.yaxis.set_minor_formatter(NullFormatter())


def color_of(mode, i):
    return MODE_COLORS.get(mode, f"C{i + 2}")


def plot_throughput(plt, metadata, records, path):
    modes = ordered_modes(records)
    clients = sorted({r["clients"] for r in records})
    tps = by_point(records, lambda r: r["output_tokens_per_s"])
    fig, ax = plt.subplots(figsize=(9, 5.8))
    medians = {}
    handles = []
    for i, mode in enumerate(modes):
        xs = [c for c in clients if (mode, c) in tps]
        vals = [tps[(mode, c)] for c in xs]
        med = [statistics.median(v) for v in vals]
        lo = [m - min(v) for m, v in zip(med, vals)]
        hi = [max(v) - m for m, v in zip(med, vals)]
        medians[mode] = dict(zip(xs, med))
        h = ax.errorbar(xs, med, yerr=[lo, hi], marker="o", capsize=4, linewidth=2,
                        color=color_of(mode, i), label=MODE_LABELS.get(mode, mode))
        handles.append(h)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("output tokens/s, all clients together\n(median over rounds, bars: min to max)")
    set_clients_axis(ax, clients)
    ax.grid(True, alpha=0.3)
    if "batch" in medians and "interleave" in medians:
        xs = [c for c in clients if c in medians["batch"] and medians["interleave"].get(c, 0) > 0]
        ratio = [medians["batch"][c] / medians["interleave"][c] for c in xs]
        if xs:
            ax2 = ax.twinx()
            h = ax2.plot(xs, ratio, linestyle="--", marker="s", color="0.35",
                         label="batch / interleave (right axis)")[0]
            handles.append(h)
            for x, y in zip(xs, ratio):
                ax2.annotate(f"{y:.2f}x", (x, y), textcoords="offset points", xytext=(0, 7),
                             ha="center", fontsize=8, color="0.25")
            ax2.axhline(1.0, color="0.6", linewidth=0.8, linestyle=":")
            ax2.set_ylim(0, max(max(ratio), 1.0) * 1.3)
            ax2.set_ylabel("batch / interleave (ratio of median tokens/s)")
    ax.legend(handles=handles, loc="upper left", fontsize=9)
    titles(fig, "Output throughput vs concurrency: batch vs interleave", metadata, records)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_latency(plt, metadata, records, path):
    modes = ordered_modes(records)
    clients = sorted({r["clients"] for r in records})
    fig, axes = plt.subplots(1, len(LATENCIES), figsize=(14, 5.6), sharex=True)
    handles = []
    for col, (key, label, ylabel) in enumerate(LATENCIES):
        ax = axes[col]
        any_positive = False
        for i, mode in enumerate(modes):
            for p, plabel, style, marker in PERCENTILES:
                values = by_point([r for r in records if r["mode"] == mode],
                                  lambda r, key=key, p=p: r[key][p])
                xs = [c for c in clients if (mode, c) in values]
                med = [statistics.median(values[(mode, c)]) for c in xs]
                # Log scale: a zero (no samples, e.g. one-token outputs) is left out.
                pts = [(x, y) for x, y in zip(xs, med) if y > 0]
                any_positive |= bool(pts)
                h = ax.plot([x for x, _ in pts], [y for _, y in pts], linestyle=style,
                            marker=marker, markersize=4, color=color_of(mode, i),
                            label=f"{mode} {plabel}")[0]
                if col == 0:
                    handles.append(h)
        if any_positive:
            log_ms_axis(plt, ax)
        ax.set_title(label, fontsize=10)
        ax.set_ylabel(f"{ylabel}, ms" + (" (log scale)" if any_positive else ""))
        set_clients_axis(ax, clients)
        ax.grid(True, which="both", alpha=0.3)
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8.5,
               bbox_to_anchor=(0.5, 0.04), frameon=False)
    titles(fig, "Latency percentiles vs concurrency, measured by the clients "
           "(median over rounds)", metadata, records)
    fig.tight_layout(rect=(0, 0.11, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(
        prog=PROG, description="Throughput and latency plots from a sweep_modes.sh sweep.json.")
    parser.add_argument("sweep_json", metavar="SWEEP_JSON")
    parser.add_argument("outdir", metavar="OUTDIR")
    args = parser.parse_args()
    try:
        metadata, records = load_sweep(args.sweep_json)
    except SweepError as e:
        fail(str(e))
    plt = import_pyplot()
    try:
        os.makedirs(args.outdir, exist_ok=True)
    except OSError as e:
        fail(f"cannot create {args.outdir}: {e.strerror}")
    for name, plot in ((THROUGHPUT_PNG, plot_throughput), (LATENCY_PNG, plot_latency)):
        path = os.path.join(args.outdir, name)
        plot(plt, metadata, records, path)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
