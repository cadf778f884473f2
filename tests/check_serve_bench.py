#!/usr/bin/env python3
"""Runs `ringserve-bench serve` against a real echo ringserved, closed loop and with Poisson
arrivals, and checks the JSON report: every request accounted for, exact token counts, the
documented keys, and latencies that are plausible for the daemon's step delay."""
import json
import os
import subprocess
import sys
import tempfile
import time

bench, daemon = sys.argv[1], sys.argv[2]
name = "serve-check-%d" % os.getpid()
proc = subprocess.Popen([daemon, "--name", name, "--set", "model.backend=echo",
                         "--set", "model.echo_step_delay_us=1000"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    time.sleep(0.5)
    for extra in ([], ["--rate", "200"]):
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            subprocess.run([bench, "serve", "--name", name, "--clients", "4", "--requests", "10",
                            "--max-tokens", "5", "--prompt-chars", "8:20", "--json", out.name]
                           + extra, check=True, timeout=120)
            report = json.load(open(out.name))
        assert report["requests_ok"] == 10, report
        assert report["errors"] == {}, report
        assert report["output_tokens"] == 50, report
        for key in ("output_tokens_per_s", "requests_per_s", "ttft_p50_ms", "itl_p50_ms"):
            assert isinstance(report[key], (int, float)) and report[key] > 0, (key, report)
        # 1 ms per step: a token cannot come faster than a step, nor a whole answer in < 5.
        assert 0.5 <= report["itl_p50_ms"] < 50, report
        assert report["end_to_end"]["p50_ms"] >= 4, report
        assert report["itl"]["count"] == 10 * 4, report
finally:
    proc.terminate()
    proc.wait(timeout=20)
print("ok")
