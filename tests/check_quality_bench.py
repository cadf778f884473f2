#!/usr/bin/env python3
"""Runs `ringserve-bench quality` on the built-in model and checks what its report must say:
bfloat16 holds the built-in model's bfloat16 checkpoint exactly (KL 0, every top token the
same, the same perplexity), int8 moves the distributions a little (KL above 0 and small, the top
token nearly always the same), every documented JSON key is there, and a bad --dtype is one
clear line."""
import json
import os
import subprocess
import sys
import tempfile

bench, model = sys.argv[1], sys.argv[2]


def quality(dtype, text):
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([bench, "quality", "--model", model, "--dtype", dtype, "--text", text,
                        "--tokens", "1100", "--json", out.name], check=True, timeout=300,
                       stdout=subprocess.DEVNULL)
        return json.load(open(out.name))


with tempfile.NamedTemporaryFile("w", suffix=".txt") as text:
    # Held-out prose of ~1,650 bytes (the built-in model's tokens are bytes), cut at 1,100.
    text.write(" ".join(["The daemon owns the model and a scheduler; other processes on the "
                         "same machine submit prompts into a ring in shared memory."] * 12))
    text.flush()
    exact = quality("bfloat16", text.name)
    int8 = quality("int8", text.name)
for report in (exact, int8):
    for key in ("mean_kl", "max_kl", "top1_agreement", "ppl", "ppl_float32", "positions"):
        assert key in report, (key, report)
    assert report["positions"] == 1100 - 3, report  # 1,100 tokens in windows of 512, 512 and 76
assert exact["mean_kl"] == 0 and exact["top1_agreement"] == 1, exact
assert exact["ppl"] == exact["ppl_float32"], exact
assert 0 < int8["mean_kl"] < 0.01, int8
assert 0.95 <= int8["top1_agreement"] < 1 or int8["top1_agreement"] == 1, int8
assert abs(int8["ppl"] / int8["ppl_float32"] - 1) < 0.02, int8
assert int8["weight_bytes"] < exact["weight_bytes"] < int8["weight_bytes_float32"], (exact, int8)

bad = subprocess.run([bench, "quality", "--model", model, "--dtype", "int3"], timeout=60,
                     capture_output=True, text=True)
assert bad.returncode == 1, bad
assert bad.stderr.count("\n") == 1 and "model.dtype 'int3' is not one of" in bad.stderr, bad.stderr
print("ok")
