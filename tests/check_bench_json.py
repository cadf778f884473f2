#!/usr/bin/env python3
"""Runs `ringserve-bench latency` briefly and checks its JSON report has the documented shape
(three transports, integer nanosecond fields, as many token samples as requested)."""
import json
import subprocess
import sys
import tempfile

bench = sys.argv[1]
with tempfile.NamedTemporaryFile(suffix=".json") as out:
    subprocess.run([bench, "latency", "--requests", "5", "--tokens", "7", "--json", out.name],
                   check=True, timeout=120)
    report = json.load(open(out.name))
assert set(report) == {"shm-spin", "shm-futex", "uds"}, report.keys()
for transport, numbers in report.items():
    for key in ("submit_p50_ns", "token_p50_ns", "token_p99_ns"):
        assert isinstance(numbers[key], int) and numbers[key] > 0, (transport, key, numbers)
    assert numbers["tokens"] == 5 * 7, (transport, numbers["tokens"])
print("ok")
