#!/usr/bin/python3
"""Logits parity test: the C++ engine (through ringserve-probe) against tools/reference_model.py.

  /usr/bin/python3 tools/model_parity.py --probe PROBE_EXE --model DIR
      [--prompt-tokens "1 2 3"] [--decode 8] [--tolerance 1e-4]
      [--probe-arg=--chunk --probe-arg=2 ...] [--reference-dtype float64|float32]

Runs `PROBE_EXE --model DIR --tokens "..." --decode N --out FILE.json`, which writes
{"tokens": [prompt..., N generated], "prompt_len": P, "logits": [[vocab floats] x (N+1)]}:
row 0 holds the logits at the last prompt position (after prefill), row j those after decode
step j, i.e. at position P-1+j. The reference runs one full causal forward over the tokens and
compares rows P-1 .. P-1+N. A row passes when max|probe - ref| <= tolerance * max(1, max|ref|).
Each generated token must also be the argmax of the reference's row before it, checked where
the reference's top-2 gap is larger than twice the allowed error (otherwise a tie within the
tolerance could flip it legitimately).

Exit status: 0 pass, 1 fail, 2 usage error, 77 skip (python3-torch is not installed).
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

SKIP = 77


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--probe", required=True, help="the ringserve-probe executable")
    parser.add_argument("--model", required=True, help="model directory")
    parser.add_argument("--prompt-tokens", default=None,
                        help='space-separated prompt ids (default: a fixed prompt of 7 ids '
                             'spread over the vocabulary)')
    parser.add_argument("--decode", type=int, default=8, help="greedy decode steps")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument("--probe-arg", action="append", default=[],
                        help="extra argument for the probe (repeatable), e.g. --probe-arg=--chunk"
                             " --probe-arg=3")
    parser.add_argument("--reference-dtype", choices=("float64", "float32"), default="float64",
                        help="precision of the reference computation (default float64)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds for the probe")
    parser.add_argument("--keep", help="also write the probe's JSON to this path")
    return parser.parse_args(argv)


def default_prompt(vocab_size):
    # BOS-like 1 first, then ids spread deterministically over the vocabulary.
    ids = [1 % vocab_size]
    for k in range(1, 7):
        ids.append((k * 7919 + 13) % vocab_size)
    return ids


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        import torch
    except ImportError:
        print("SKIP: python3-torch is not installed")
        return SKIP
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import reference_model

    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    if args.decode < 0:
        print("model_parity: --decode must be >= 0", file=sys.stderr)
        return 2
    if not os.path.isfile(os.path.join(args.model, "config.json")):
        print(f"FAIL: {args.model}: no config.json", file=sys.stderr)
        return 1
    if not (os.path.isfile(args.probe) and os.access(args.probe, os.X_OK)):
        print(f"FAIL: probe {args.probe} is not an executable file", file=sys.stderr)
        return 1

    config = reference_model.load_config(args.model)
    vocab = int(config["vocab_size"])
    if args.prompt_tokens is None:
        prompt = default_prompt(vocab)
    else:
        try:
            prompt = [int(t) for t in args.prompt_tokens.split()]
        except ValueError:
            print(f"model_parity: bad --prompt-tokens {args.prompt_tokens!r}", file=sys.stderr)
            return 2
    if not prompt or any(not 0 <= t < vocab for t in prompt):
        print(f"model_parity: prompt must be non-empty ids in [0, {vocab})", file=sys.stderr)
        return 2

    # 1. The C++ side.
    with tempfile.TemporaryDirectory(prefix="ringserve-parity-") as tmp:
        out_path = os.path.join(tmp, "probe.json")
        cmd = [args.probe, "--model", args.model, "--tokens", " ".join(map(str, prompt)),
               "--decode", str(args.decode), "--out", out_path] + list(args.probe_arg)
        print("probe:", " ".join(cmd), flush=True)
        try:
            run = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 timeout=args.timeout)
        except subprocess.TimeoutExpired:
            print(f"FAIL: the probe ran longer than {args.timeout:g}s", file=sys.stderr)
            return 1
        if run.returncode != 0:
            sys.stderr.write(run.stdout.decode("utf-8", "replace"))
            print(f"FAIL: the probe exited with status {run.returncode}", file=sys.stderr)
            return 1
        try:
            with open(out_path) as f:
                text = f.read()
            result = json.loads(text)
        except (OSError, ValueError) as e:
            print(f"FAIL: cannot read the probe's output: {e}", file=sys.stderr)
            return 1
        if args.keep:
            with open(args.keep, "w") as f:
                f.write(text)

    problems = []
    tokens = result.get("tokens")
    rows = result.get("logits")
    prompt_len = result.get("prompt_len")
    if not isinstance(tokens, list) or not isinstance(rows, list):
        print("FAIL: probe output lacks \"tokens\" or \"logits\"", file=sys.stderr)
        return 1
    if prompt_len != len(prompt):
        problems.append(f"prompt_len is {prompt_len}, expected {len(prompt)}")
    if tokens[:len(prompt)] != prompt:
        problems.append(f"tokens do not start with the prompt: {tokens[:len(prompt)]}")
    if len(tokens) != len(prompt) + args.decode:
        problems.append(f"{len(tokens)} tokens, expected {len(prompt)} + {args.decode}")
    if len(rows) != args.decode + 1:
        problems.append(f"{len(rows)} logits rows, expected {args.decode + 1}")
    if any(not isinstance(t, int) or not 0 <= t < vocab for t in tokens):
        problems.append("token ids out of range in the probe's output")
    if any(not isinstance(r, list) or len(r) != vocab for r in rows):
        problems.append(f"logits rows must have vocab_size = {vocab} entries")
    if problems:
        for p in problems:
            print("FAIL:", p, file=sys.stderr)
        return 1
    n_rows = len(rows)
    P = len(prompt)

    # 2. The reference: one causal forward over the prompt and the generated tokens that were
    # fed back (row j sits at position P-1+j, so tokens[:P+n_rows-1]).
    dtype = torch.float64 if args.reference_dtype == "float64" else torch.float32
    model = reference_model.load_model(args.model, dtype)
    with torch.no_grad():
        ref_all = model(torch.tensor(tokens[:P + n_rows - 1], dtype=torch.long))
    ref = ref_all[P - 1:P - 1 + n_rows].to(torch.float64)
    probe = torch.tensor(rows, dtype=torch.float64)

    print(f"model: {args.model} ({config.get('model_type')}), vocab {vocab}, prompt {P} tokens, "
          f"{n_rows - 1} decode steps, tolerance {args.tolerance:g}, reference {args.reference_dtype}")
    print(f"{'row':>4} {'pos':>5} {'max|ref|':>10} {'max abs err':>12} {'rel err':>10} "
          f"{'probe top':>9} {'ref top':>8} {'ref gap':>9}")
    failed = False
    worst = 0.0
    for j in range(n_rows):
        r, p = ref[j], probe[j]
        scale = max(1.0, float(r.abs().max()))
        if not bool(torch.isfinite(p).all()):
            print(f"{j:>4} {P - 1 + j:>5}  non-finite values in the probe's logits")
            failed = True
            continue
        err = float((p - r).abs().max())
        rel = err / scale
        worst = max(worst, rel)
        top2 = torch.topk(r, min(2, vocab))
        gap = float(top2.values[0] - top2.values[1]) if vocab > 1 else math.inf
        ref_top, probe_top = int(top2.indices[0]), int(torch.argmax(p))
        note = ""
        if rel > args.tolerance:
            note = "  <-- logits differ"
            failed = True
        if P + j < len(tokens):  # the token generated from this row
            generated = tokens[P + j]
            if generated != ref_top:
                if gap > 2 * args.tolerance * scale:
                    note += f"  <-- generated {generated}, reference argmax {ref_top}"
                    failed = True
                else:
                    note += f"  (generated {generated} != {ref_top}, within tolerance of a tie)"
        print(f"{j:>4} {P - 1 + j:>5} {scale:>10.4f} {err:>12.3e} {rel:>10.3e} "
              f"{probe_top:>9} {ref_top:>8} {gap:>9.4f}{note}")
    if failed:
        print(f"FAIL: logits parity failed (worst relative error {worst:.3e}, "
              f"tolerance {args.tolerance:g})", file=sys.stderr)
        return 1
    print(f"PASS: {n_rows} rows within tolerance (worst relative error {worst:.3e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
