#!/usr/bin/python3
"""Trains ringserve's small built-in byte-level Llama model on the Debian fortune files.

  nice -n 19 /usr/bin/python3 tools/train_builtin_model.py --out models/builtin

Deterministic given --seed (single CPU thread, fixed step count). Writes config.json,
tokenizer.json, tokenizer_config.json, special_tokens_map.json and model.safetensors (bfloat16,
tied embeddings stored once as model.embed_tokens.weight) into --out, and prints the training
and validation loss as it goes, ending with the validation loss in bits per byte.

Corpus: every fortune file under /usr/share/games/fortunes (packages fortunes-min and
fortunes), except the offensive ones (any off/ directory) and the files in EXCLUDE. Each record
between lines holding only '%' is one document: [1 (<s>)] + [byte + 3 ...] + [2 (</s>)].
"""

import argparse
import json
import math
import os
import random
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_model  # noqa: E402

FORTUNE_DIR = "/usr/share/games/fortunes"
# Not used: ascii-art (pictures, not text), and two files whose jokes are mostly about
# ethnic groups / genders (kept out of a demo model even though Debian ships them in the
# non-offensive set).
EXCLUDE = {"ascii-art", "ethnic", "men-women"}

CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 256,
    "intermediate_size": 688,
    "num_hidden_layers": 4,
    "num_attention_heads": 8,
    "num_key_value_heads": 4,
    "max_position_embeddings": 512,
    "rope_theta": 10000.0,
    "rms_norm_eps": 1e-5,
    "vocab_size": 259,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "tie_word_embeddings": True,
    "hidden_act": "silu",
    "torch_dtype": "bfloat16",
}


def tokenizer_json():
    def added(i, content):
        return {"id": i, "content": content, "single_word": False, "lstrip": False,
                "rstrip": False, "normalized": False, "special": True}

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = b + 3
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")],
        "normalizer": None,
        "pre_tokenizer": None,
        "post_processor": None,
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>",
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": True, "byte_fallback": True, "vocab": vocab, "merges": []},
        "decoder": {"type": "Sequence",
                    "decoders": [{"type": "ByteFallback"}, {"type": "Fuse"}]},
    }


def encode(text_bytes):
    return [1] + [b + 3 for b in text_bytes] + [2]


def decode(ids):
    return bytes(i - 3 for i in ids if 3 <= i < 259).decode("utf-8", errors="replace")


def fortune_files():
    files = []
    for root, dirs, names in os.walk(FORTUNE_DIR):
        dirs[:] = sorted(d for d in dirs if d != "off")
        for name in sorted(names):
            path = os.path.join(root, name)
            if "." in name or os.path.islink(path) or name in EXCLUDE:
                continue
            files.append(path)
    return files


def load_documents():
    docs = []
    for path in fortune_files():
        with open(path, "rb") as f:
            record = []
            for line in f.read().split(b"\n"):
                if line.rstrip(b"\r") == b"%":
                    if record:
                        docs.append(b"\n".join(record).strip(b"\n") + b"\n")
                    record = []
                else:
                    record.append(line)
            if any(r.strip() for r in record):
                docs.append(b"\n".join(record).strip(b"\n") + b"\n")
    return [d for d in docs if d.strip()]


def init_weights(model, num_layers, seed):
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        if name.endswith("layernorm.weight") or name.endswith("norm.weight"):
            torch.nn.init.ones_(p)
        else:
            std = 0.02
            if name.endswith("o_proj.weight") or name.endswith("down_proj.weight"):
                std = 0.02 / math.sqrt(2 * num_layers)
            with torch.no_grad():
                p.copy_(torch.randn(p.shape, generator=g) * std)


@torch.no_grad()
def evaluate(model, stream, seq_len):
    """Mean NLL (nats) per predicted token over non-overlapping windows of the stream."""
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(stream) - 1, seq_len):
        chunk = stream[start:start + seq_len + 1]
        if len(chunk) < 2:
            break
        logits = model(chunk[:-1])
        total += float(F.cross_entropy(logits, chunk[1:], reduction="sum"))
        count += len(chunk) - 1
    model.train()
    return total / count, count


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="models/builtin")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--steps", type=int, default=2200)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--micro-batch", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--min-lr", type=float, default=1e-4)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--weight-decay", type=float, default=0.1)
    parser.add_argument("--eval-every", type=int, default=200)
    parser.add_argument("--bench", type=int, default=0, help="time N steps and exit")
    parser.add_argument("--sample", action="store_true",
                        help="only print the samples of the model already in --out")
    args = parser.parse_args()

    torch.set_num_threads(1)
    if args.sample:
        print_samples(reference_model.load_model(args.out), args.seed)
        return
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    t_start = time.time()

    docs = load_documents()
    rng = random.Random(args.seed)
    order = list(range(len(docs)))
    rng.shuffle(order)
    n_val = max(1, round(0.02 * len(docs)))
    val_docs = [docs[i] for i in sorted(order[:n_val])]
    train_docs = [docs[i] for i in order[n_val:]]
    train = torch.tensor([t for d in train_docs for t in encode(d)], dtype=torch.long)
    val = torch.tensor([t for d in val_docs for t in encode(d)], dtype=torch.long)
    val_bytes = sum(len(d) for d in val_docs)
    print(f"corpus: {len(fortune_files())} files, {len(docs)} documents; train {len(train)} "
          f"tokens, validation {len(val)} tokens ({len(val_docs)} documents, {val_bytes} bytes)",
          flush=True)

    model = reference_model.LlamaForCausalLM(CONFIG)
    init_weights(model, CONFIG["num_hidden_layers"], args.seed)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params} parameters", flush=True)

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)

    def lr_at(step):
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        progress = (step - args.warmup) / max(1, args.steps - args.warmup)
        return args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * progress))

    gen = torch.Generator().manual_seed(args.seed)
    steps = args.bench or args.steps
    seq = args.seq_len
    smooth = None
    t_train = time.time()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        starts = torch.randint(0, len(train) - seq - 1, (args.batch,), generator=gen)
        opt.zero_grad(set_to_none=True)
        chunks = torch.stack([train[s:s + seq + 1] for s in starts.tolist()])
        loss_sum = 0.0
        # Micro-batches keep the attention scores small enough to stay in cache (faster on CPU).
        for mb in chunks.split(args.micro_batch):
            logits = model(mb[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), mb[:, 1:].reshape(-1),
                                   reduction="sum") / (args.batch * seq)
            loss.backward()
            loss_sum += float(loss)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        smooth = loss_sum if smooth is None else 0.95 * smooth + 0.05 * loss_sum
        if step % 20 == 0 or step == steps - 1:
            elapsed = time.time() - t_train
            print(f"step {step:5d}  loss {loss_sum:.4f}  smoothed {smooth:.4f} "
                  f"({smooth / math.log(2):.3f} bits/token)  lr {lr_at(step):.2e}  "
                  f"{elapsed:7.1f}s", flush=True)
        if args.bench:
            continue
        if (step + 1) % args.eval_every == 0 and step + 1 < steps:
            nll, _ = evaluate(model, val, seq)
            print(f"step {step + 1:5d}  validation loss {nll:.4f} nats/token", flush=True)
    if args.bench:
        print(f"{(time.time() - t_train) / steps:.3f} s/step", flush=True)
        return

    nll, count = evaluate(model, val, seq)
    # Bits per byte: total bits over all predicted validation tokens (bytes, </s> and <s>)
    # divided by the number of content bytes.
    bpb = nll * count / math.log(2) / val_bytes
    train_time = time.time() - t_start
    print(f"final validation loss {nll:.4f} nats/token, {bpb:.4f} bits/byte; "
          f"wall time {train_time:.0f}s", flush=True)

    os.makedirs(args.out, exist_ok=True)
    state = {n: t for n, t in model.state_dict().items()}
    reference_model.save_safetensors(os.path.join(args.out, "model.safetensors"), state,
                                     dtype=torch.bfloat16, metadata={"format": "pt"})
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2)
        f.write("\n")
    with open(os.path.join(args.out, "tokenizer.json"), "w") as f:
        json.dump(tokenizer_json(), f, ensure_ascii=False)
        f.write("\n")
    with open(os.path.join(args.out, "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                   "add_bos_token": True, "add_eos_token": False,
                   "model_max_length": CONFIG["max_position_embeddings"],
                   "tokenizer_class": "PreTrainedTokenizerFast"}, f, indent=2)
        f.write("\n")
    with open(os.path.join(args.out, "special_tokens_map.json"), "w") as f:
        json.dump({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}, f, indent=2)
        f.write("\n")

    # Reload the shipped bfloat16 weights: their validation loss and samples.
    shipped = reference_model.load_model(args.out)
    nll16, _ = evaluate(shipped, val, seq)
    bpb16 = nll16 * count / math.log(2) / val_bytes
    print(f"shipped bfloat16 weights: validation {nll16:.4f} nats/token, {bpb16:.4f} bits/byte",
          flush=True)
    print_samples(shipped, args.seed)


def print_samples(model, seed):
    """Greedy from <s> alone, then two samples (temperature 0.8, top-k 40) after a prompt."""
    gen = torch.Generator().manual_seed(seed)
    for prompt in (b"", b"The ", b"A computer"):
        ids = reference_model.generate(model, encode(prompt)[:-1], 200, temperature=0.0
                                       if not prompt else 0.8, top_k=40, eos=2, generator=gen)
        print(f"sample {prompt!r}: {decode(ids)!r}", flush=True)


if __name__ == "__main__":
    main()
