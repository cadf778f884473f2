#!/usr/bin/env python3
"""Runs `ringserve-bench model --compare-kv-layouts` on the built-in model and checks its
report: every decode row has the attention's share of the step (more than nothing, less than
the step), and every batch a KV layout comparison whose ratio is the two medians' quotient."""
import json
import subprocess
import sys
import tempfile

bench, model = sys.argv[1], sys.argv[2]
batches = [1, 3]
with tempfile.NamedTemporaryFile(suffix=".json") as out:
    run = subprocess.run([bench, "model", "--model", model, "--batches", "1,3", "--steps", "6",
                          "--prompt-tokens", "40", "--compare-kv-layouts", "--json", out.name],
                         check=True, timeout=300, capture_output=True, text=True)
    report = json.load(open(out.name))
assert "KV blocks in order against scattered" in run.stdout, run.stdout
assert [row["batch"] for row in report["decode"]] == batches, report["decode"]
for row in report["decode"]:
    assert 0 < row["attention_ms"] < row["step_ms"], row
assert [row["batch"] for row in report["kv_layouts"]] == batches, report["kv_layouts"]
for row in report["kv_layouts"]:
    for arm in ("in_order", "scattered"):
        assert 0 < row[arm + "_attention_ms"] < row[arm + "_step_ms"], row
    assert abs(row["ratio"] - row["scattered_step_ms"] / row["in_order_step_ms"]) < 1e-9, row
print("ok")
