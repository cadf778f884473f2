#!/usr/bin/python3
"""Independent reference forward pass for ringserve's model formats (needs only python3-torch).

Reads a Hugging Face model directory (config.json plus model.safetensors, or
model.safetensors.index.json and its shards), parsing safetensors itself, and computes the
full-sequence causal logits the way Hugging Face transformers does, in float32 (or float64),
optionally with the weights rounded as the engine holds them in a model.dtype
(reference_formats.py: bfloat16, float16, int8, int4), and, for the matrices held in int8 or
int4, their products' inputs quantized per block of 32 as the engine's integer kernels do.

Architectures: GPT-2 (model_type "gpt2") and the Llama family ("llama", "mistral", "qwen2"),
including grouped-query attention, optional q/k/v/o/mlp biases, rope_theta and rope_scaling
of type "llama3" and "linear".

As a program:
  /usr/bin/python3 tools/reference_model.py --model DIR --tokens "1 2 3" [--float64]
      [--decode N] [--json] [--dtype float32|bfloat16|float16|int8|int4]
prints, for the last position, the top tokens (and optionally greedily decodes N tokens).

The model is split by job: reference_safetensors.py (reading and writing the files),
reference_formats.py (the engine's weight formats), reference_layers.py (activations, causal
attention), reference_llama.py and reference_gpt2.py (the two families); this module builds and
loads them and re-exports their names.

As a module:
  model = reference_model.load_model(DIR)          # torch.nn.Module, autograd works
  model = reference_model.load_model(DIR, weight_format="int4")  # the engine's int4 weights
  logits = model(torch.tensor([1, 2, 3]))          # [seq, vocab]
  model = reference_model.LlamaForCausalLM(config) # random init, e.g. for training
  reference_model.save_safetensors(path, tensors, dtype=torch.bfloat16)
"""

import argparse
import json
import os
import sys

import torch
import torch.nn as nn

# The pieces, one module per job; their names are re-exported here, the one module callers use.
from reference_formats import FORMATS, round_weights
from reference_gpt2 import GPT2LMHeadModel  # noqa: F401
from reference_layers import activation, causal_attention  # noqa: F401
from reference_llama import LLAMA_TYPES, LlamaForCausalLM, rope_inv_freq  # noqa: F401
from reference_safetensors import (  # noqa: F401
    load_model_tensors, read_safetensors, save_safetensors)


def build_model(config):
    model_type = config.get("model_type")
    if model_type == "gpt2":
        return GPT2LMHeadModel(config)
    if model_type in LLAMA_TYPES:
        return LlamaForCausalLM(config)
    raise ValueError(f"unsupported model_type {model_type!r}")


def load_config(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        return json.load(f)


def load_model(model_dir, dtype=torch.float32, verbose=False, weight_format="float32"):
    """Builds the model for a directory's config.json and loads its weights (as `dtype`),
    first rounded as the engine holds them in `weight_format` (one of FORMATS)."""
    config = load_config(model_dir)
    model_type = config.get("model_type")
    tensors = load_model_tensors(model_dir)
    if model_type == "gpt2":
        # Checkpoints name tensors with or without "transformer."; drop the attention mask
        # buffers (h.N.attn.bias / masked_bias) that old checkpoints carry.
        renamed = {}
        for name, value in tensors.items():
            if name.endswith(".attn.bias") or name.endswith(".attn.masked_bias"):
                continue
            if name != "lm_head.weight" and not name.startswith("transformer."):
                name = "transformer." + name
            renamed[name] = value
        tensors = renamed
        if "tie_word_embeddings" not in config and "lm_head.weight" in tensors:
            config = dict(config, tie_word_embeddings=False)
    elif model_type in LLAMA_TYPES:
        tied = config.get("tie_word_embeddings", False)
        if not tied and "lm_head.weight" not in tensors:
            if verbose:
                print("reference_model: no lm_head.weight; tying it to the embeddings",
                      file=sys.stderr)
            config = dict(config, tie_word_embeddings=True)
        # Biases are loaded whenever the tensors exist.
        for i in range(config["num_hidden_layers"]):
            prefix = f"model.layers.{i}."
            if prefix + "self_attn.q_proj.bias" in tensors:
                config = dict(config, _qkv_bias=True)
            if prefix + "self_attn.o_proj.bias" in tensors:
                config = dict(config, _o_bias=True)
            if prefix + "mlp.gate_proj.bias" in tensors:
                config = dict(config, mlp_bias=True)
    model = build_model(config)
    if model_type in LLAMA_TYPES:
        _fix_llama_biases(model, config)
    if getattr(model, "tied", False):
        tensors.pop("lm_head.weight", None)
    expected = model.state_dict()
    missing = [n for n in expected if n not in tensors]
    unexpected = [n for n in tensors if n not in expected]
    if missing:
        raise ValueError(f"{model_dir}: missing tensors: {missing[:8]}"
                         + (" ..." if len(missing) > 8 else ""))
    if unexpected and verbose:
        print(f"reference_model: ignoring tensors: {unexpected[:8]}", file=sys.stderr)
    for name, value in expected.items():
        if tuple(tensors[name].shape) != tuple(value.shape):
            raise ValueError(f"{name}: shape {list(tensors[name].shape)}, "
                             f"expected {list(value.shape)}")
    # After the tied head is dropped: the one matrix left is rounded as a head.
    tensors, quantized_inputs = round_weights({n: tensors[n] for n in expected}, weight_format,
                                              model_type, getattr(model, "tied", False))
    model.load_state_dict(tensors, strict=True)
    _quantize_inputs(model, quantized_inputs)
    model.to(dtype)
    model.eval()
    return model


def _quantize_inputs(model, weight_names):
    """Sets the products of the named weights (held in int8 or int4: round_weights) to quantize
    their inputs as the engine's integer kernels do: the head's (lm_head.weight, or the tied
    embedding's) on the model, the others on the layer that owns the weight."""
    for name in weight_names:
        owner = model.get_submodule(name.rsplit(".", 1)[0])
        if name == "lm_head.weight" or isinstance(owner, nn.Embedding):
            model.quantize_head_input = True
        elif hasattr(owner, "quantize_input"):
            owner.quantize_input = True
        else:
            raise ValueError(f"{name}: no product of the reference quantizes its input")


def _fix_llama_biases(model, config):
    """Adds q/k/v and o biases when the checkpoint has them but the config doesn't say so."""
    for layer in model.model.layers:
        attn = layer.self_attn
        if config.get("_qkv_bias"):
            for proj in (attn.q_proj, attn.k_proj, attn.v_proj):
                if proj.bias is None:
                    proj.bias = nn.Parameter(torch.zeros(proj.out_features))
        if config.get("_o_bias") and attn.o_proj.bias is None:
            attn.o_proj.bias = nn.Parameter(torch.zeros(attn.o_proj.out_features))


@torch.no_grad()
def forward_logits(model, token_ids):
    """[seq] token ids -> [seq, vocab] logits (no grad)."""
    return model(torch.as_tensor(list(token_ids), dtype=torch.long))


@torch.no_grad()
def generate(model, prompt, max_new_tokens, temperature=0.0, top_k=0, eos=None, generator=None):
    """Greedy (temperature 0) or sampled generation by re-running the full forward each step."""
    tokens = list(prompt)
    for _ in range(max_new_tokens):
        logits = model(torch.tensor(tokens, dtype=torch.long))[-1].to(torch.float64)
        if temperature <= 0:
            nxt = int(torch.argmax(logits))
        else:
            logits = logits / temperature
            if top_k:
                kth = torch.topk(logits, top_k).values[-1]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            nxt = int(torch.multinomial(torch.softmax(logits, -1), 1, generator=generator))
        tokens.append(nxt)
        if eos is not None and nxt == eos:
            break
    return tokens


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--tokens", required=True, help='space-separated ids, e.g. "1 2 3"')
    parser.add_argument("--decode", type=int, default=0, help="greedy tokens to generate")
    parser.add_argument("--float64", action="store_true")
    parser.add_argument("--dtype", choices=FORMATS, default="float32",
                        help="round the weights as the engine holds them in this model.dtype")
    parser.add_argument("--json", action="store_true",
                        help="print {tokens, logits (all positions)} as JSON")
    args = parser.parse_args()
    torch.set_num_threads(1)
    dtype = torch.float64 if args.float64 else torch.float32
    model = load_model(args.model, dtype, verbose=True, weight_format=args.dtype)
    tokens = [int(t) for t in args.tokens.split()]
    if args.decode:
        tokens = generate(model, tokens, args.decode)
    logits = forward_logits(model, tokens)
    if args.json:
        json.dump({"tokens": tokens, "logits": logits.tolist()}, sys.stdout)
        print()
        return
    last = logits[-1]
    top = torch.topk(last, min(5, last.shape[0]))
    print("tokens:", " ".join(map(str, tokens)))
    print("top-5 at last position:",
          ", ".join(f"{int(i)}:{float(v):.5f}" for v, i in zip(top.values, top.indices)))


if __name__ == "__main__":
    main()
