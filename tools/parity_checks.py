"""The pieces of tools/model_parity.py that run the probe and judge its output: running
ringserve-probe, checking the shape of one sequence's result, and comparing its logits rows with
the reference's."""

import json
import math
import os
import subprocess
import tempfile

import torch


class ProbeFailed(Exception):
    """The probe did not produce a result; the message says why, `output` is what it printed."""

    def __init__(self, message, output=""):
        super().__init__(message)
        self.output = output


def run_probe(cmd, timeout, keep=None):
    """Runs the probe command (`--out FILE` is appended) and returns its parsed JSON."""
    with tempfile.TemporaryDirectory(prefix="ringserve-parity-") as tmp:
        out_path = os.path.join(tmp, "probe.json")
        cmd = list(cmd) + ["--out", out_path]
        print("probe:", " ".join(cmd), flush=True)
        try:
            run = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ProbeFailed(f"the probe ran longer than {timeout:g}s")
        output = run.stdout.decode("utf-8", "replace")
        if run.returncode != 0:
            raise ProbeFailed(f"the probe exited with status {run.returncode}", output)
        try:
            with open(out_path) as f:
                text = f.read()
            result = json.loads(text)
        except (OSError, ValueError) as e:
            raise ProbeFailed(f"cannot read the probe's output: {e}", output)
    if keep:
        with open(keep, "w") as f:
            f.write(text)
    return result


def shape_problems(result, prompt, decode, vocab):
    """What is wrong with one sequence's {"tokens", "prompt_len", "logits"} (empty: nothing)."""
    tokens, rows = result.get("tokens"), result.get("logits")
    if not isinstance(tokens, list) or not isinstance(rows, list):
        return ["probe output lacks \"tokens\" or \"logits\""]
    problems = []
    if result.get("prompt_len") != len(prompt):
        problems.append(f"prompt_len is {result.get('prompt_len')}, expected {len(prompt)}")
    if tokens[:len(prompt)] != prompt:
        problems.append(f"tokens do not start with the prompt: {tokens[:len(prompt)]}")
    if len(tokens) != len(prompt) + decode:
        problems.append(f"{len(tokens)} tokens, expected {len(prompt)} + {decode}")
    if len(rows) != decode + 1:
        problems.append(f"{len(rows)} logits rows, expected {decode + 1}")
    if any(not isinstance(t, int) or not 0 <= t < vocab for t in tokens):
        problems.append("token ids out of range in the probe's output")
    if any(not isinstance(r, list) or len(r) != vocab for r in rows):
        problems.append(f"logits rows must have vocab_size = {vocab} entries")
    return problems


@torch.no_grad()
def reference_rows(model, tokens, prompt_len, n_rows):
    """The reference's rows for a probe result: one causal forward over the prompt and the
    generated tokens fed back (row j sits at position P-1+j, so tokens[:P+n_rows-1])."""
    logits = model(torch.tensor(tokens[:prompt_len + n_rows - 1], dtype=torch.long))
    return logits[prompt_len - 1:prompt_len - 1 + n_rows].to(torch.float64)


def compare_rows(ref, rows, tokens, prompt_len, tolerance):
    """Compares a sequence's probe rows with the reference's. A row passes when
    max|probe - ref| <= tolerance * max(1, max|ref|); each generated token must be the argmax of
    the reference's row before it where the reference's top-2 gap exceeds twice the allowed
    error (within that, a tie may flip legitimately). Returns (failed, the rows' relative
    errors, table lines)."""
    probe = torch.tensor(rows, dtype=torch.float64)
    vocab = probe.shape[1]
    failed, errors, lines = False, [], []
    for j in range(len(rows)):
        r, p = ref[j], probe[j]
        scale = max(1.0, float(r.abs().max()))
        if not bool(torch.isfinite(p).all()):
            lines.append(f"{j:>4} {prompt_len - 1 + j:>5}  non-finite values in the probe's logits")
            failed = True
            errors.append(math.inf)
            continue
        err = float((p - r).abs().max())
        rel = err / scale
        errors.append(rel)
        top2 = torch.topk(r, min(2, vocab))
        gap = float(top2.values[0] - top2.values[1]) if vocab > 1 else math.inf
        ref_top, probe_top = int(top2.indices[0]), int(torch.argmax(p))
        note = ""
        if rel > tolerance:
            note = "  <-- logits differ"
            failed = True
        if prompt_len + j < len(tokens):  # the token generated from this row
            generated = tokens[prompt_len + j]
            if generated != ref_top:
                if gap > 2 * tolerance * scale:
                    note += f"  <-- generated {generated}, reference argmax {ref_top}"
                    failed = True
                else:
                    note += f"  (generated {generated} != {ref_top}, within tolerance of a tie)"
        lines.append(f"{j:>4} {prompt_len - 1 + j:>5} {scale:>10.4f} {err:>12.3e} {rel:>10.3e} "
                     f"{probe_top:>9} {ref_top:>8} {gap:>9.4f}{note}")
    return failed, errors, lines


TABLE_HEADER = (f"{'row':>4} {'pos':>5} {'max|ref|':>10} {'max abs err':>12} {'rel err':>10} "
                f"{'probe top':>9} {'ref top':>8} {'ref gap':>9}")
