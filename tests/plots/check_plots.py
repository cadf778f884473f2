#!/usr/bin/env python3
"""benchmarks/plot_benchmarks.py on a checked-in sweep (tests/plots/sweep_fixture.json, the
sweep.json of a real benchmarks/sweep_modes.sh run on models/builtin): both PNGs written,
valid and not trivially small; and malformed sweeps (not JSON, wrong shape, a field missing,
no records) end with a one-line "plot_benchmarks.py: ..." message, status 2, no traceback and
no PNG. Exit 77 (ctest: skipped) when no python3 here can import matplotlib.

    check_plots.py PLOT_SCRIPT FIXTURE_JSON
"""

import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MIN_BYTES = 20_000  # a titled, labelled 1000-px chart with lines is ~100 KB; blank is ~5 KB
PNGS = ("throughput_vs_concurrency.png", "latency_percentiles.png")


def interpreter_with_matplotlib():
    # Debian's python3-matplotlib is for /usr/bin/python3; the python3 on PATH may be another.
    for python in dict.fromkeys((sys.executable, "/usr/bin/python3")):
        if python and os.path.exists(python) and subprocess.run(
                [python, "-c", "import matplotlib"], capture_output=True).returncode == 0:
            return python
    return None


def run(python, script, sweep, outdir):
    return subprocess.run([python, script, sweep, outdir], capture_output=True, text=True,
                          timeout=120)


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != PNG_MAGIC:
        raise AssertionError(f"{path}: not a PNG (starts {head[:8]!r})")
    if head[12:16] != b"IHDR":
        raise AssertionError(f"{path}: no IHDR chunk first")
    return struct.unpack(">II", head[16:24])


def main():
    script, fixture = sys.argv[1], sys.argv[2]
    python = interpreter_with_matplotlib()
    if python is None:
        print("SKIP: matplotlib cannot be imported (apt-get install python3-matplotlib)")
        return 77
    failures = []

    def check(ok, what):
        print(("ok    " if ok else "FAIL  ") + what)
        if not ok:
            failures.append(what)

    work = tempfile.mkdtemp(prefix="ringserve-plots.")
    try:
        # The fixture, as sweep_modes.sh wrote it.
        out = os.path.join(work, "plots")
        r = run(python, script, fixture, out)
        check(r.returncode == 0, f"plots of the fixture: exit 0 (got {r.returncode}) "
              f"{r.stderr.strip()}")
        for name in PNGS:
            path = os.path.join(out, name)
            if not os.path.exists(path):
                check(False, f"{name} written")
                continue
            size = os.path.getsize(path)
            try:
                width, height = png_size(path)
                check(width >= 600 and height >= 400, f"{name}: valid PNG, {width}x{height} px")
            except AssertionError as e:
                check(False, str(e))
            check(size >= MIN_BYTES, f"{name}: {size} bytes (>= {MIN_BYTES})")

        with open(fixture) as f:
            sweep = json.load(f)

        # A bare list of one mode's records: no metadata, no ratio axis; still both plots.
        only_batch = os.path.join(work, "only_batch.json")
        with open(only_batch, "w") as f:
            json.dump([rec for rec in sweep["records"] if rec["mode"] == "batch"], f)
        r = run(python, script, only_batch, os.path.join(work, "only_batch"))
        check(r.returncode == 0 and all(os.path.exists(os.path.join(work, "only_batch", n))
                                        for n in PNGS),
              f"a bare list of batch records plots too (exit {r.returncode}) {r.stderr.strip()}")

        # Malformed sweeps: a clear message naming the problem, status 2, nothing written.
        missing_field = json.loads(json.dumps(sweep))
        del missing_field["records"][1]["ttft"]["p99_ms"]
        bad_clients = json.loads(json.dumps(sweep))
        bad_clients["records"][0]["clients"] = "two"
        cases = {
            "truncated.json": (json.dumps(sweep)[:200], "is not valid JSON: line"),
            "not_a_sweep.json": ('{"clients": 2}', "expected a 'records' list"),
            "no_records.json": ('{"metadata": {}, "records": []}', "no records"),
            "missing_field.json": (json.dumps(missing_field), "record 1 (")
        }
        cases["bad_clients.json"] = (json.dumps(bad_clients), "record 0: 'clients'")
        for name, (text, expected) in cases.items():
            path = os.path.join(work, name)
            with open(path, "w") as f:
                f.write(text)
            outdir = os.path.join(work, "out-" + name)
            r = run(python, script, path, outdir)
            message = r.stderr.strip()
            check(r.returncode == 2 and message.startswith("plot_benchmarks.py: ")
                  and expected in message and "Traceback" not in message
                  and not os.path.exists(outdir),
                  f"{name}: exit {r.returncode}, {message!r} (want 2, {expected!r}, no output)")
        check("'ttft.p99_ms'" in run(python, script, os.path.join(work, "missing_field.json"),
                                     os.path.join(work, "x")).stderr,
              "missing_field.json: the message names ttft.p99_ms")
        r = run(python, script, os.path.join(work, "does-not-exist.json"), work)
        check(r.returncode == 2 and "cannot read" in r.stderr, "a missing file: exit 2, "
              f"{r.stderr.strip()!r}")

        # Without matplotlib (-S: no site-packages): a clear message and exit 3. Only when
        # this interpreter cannot import it that way (always, for Debian's).
        if subprocess.run([python, "-S", "-c", "import matplotlib"],
                          capture_output=True).returncode != 0:
            env = dict(os.environ, RINGSERVE_PLOT_REEXEC="1")  # no retry with /usr/bin/python3
            r = subprocess.run([python, "-S", script, fixture, os.path.join(work, "nompl")],
                               capture_output=True, text=True, env=env, timeout=60)
            check(r.returncode == 3 and "matplotlib is missing" in r.stderr
                  and "python3-matplotlib" in r.stderr and "Traceback" not in r.stderr,
                  f"without matplotlib: exit {r.returncode}, {r.stderr.strip()!r}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
