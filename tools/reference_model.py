#!/usr/bin/python3
"""Independent reference forward pass for ringserve's model formats (needs only python3-torch).

Reads a Hugging Face model directory (config.json plus model.safetensors, or
model.safetensors.index.json and its shards), parsing safetensors itself, and computes the
full-sequence causal logits the way Hugging Face transformers does, in float32 (or float64).

Architectures: GPT-2 (model_type "gpt2") and the Llama family ("llama", "mistral", "qwen2"),
including grouped-query attention, optional q/k/v/o/mlp biases, rope_theta and rope_scaling
of type "llama3" and "linear".

As a program:
  /usr/bin/python3 tools/reference_model.py --model DIR --tokens "1 2 3" [--float64]
      [--decode N] [--json]
prints, for the last position, the top tokens (and optionally greedily decodes N tokens).

As a module:
  model = reference_model.load_model(DIR)          # torch.nn.Module, autograd works
  logits = model(torch.tensor([1, 2, 3]))          # [seq, vocab]
  model = reference_model.LlamaForCausalLM(config) # random init, e.g. for training
  reference_model.save_safetensors(path, tensors, dtype=torch.bfloat16)
"""

import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

LLAMA_TYPES = ("llama", "mistral", "qwen2")

# ---------------------------------------------------------------------------------------------
# safetensors

_NP_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_SIZES = {"BF16": 2, **{k: v.itemsize for k, v in _NP_DTYPES.items()}}


def read_safetensors(path):
    """Returns ({name: float32/float64 torch tensor or int tensor}, metadata) for one file."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: too short for a safetensors file")
    (header_len,) = struct.unpack("<Q", data[:8])
    if 8 + header_len > len(data):
        raise ValueError(f"{path}: header length {header_len} runs past the end of the file")
    header = json.loads(data[8:8 + header_len].decode("utf-8"))
    base = 8 + header_len
    metadata = header.pop("__metadata__", None) or {}
    tensors = {}
    for name, info in header.items():
        dtype = info["dtype"]
        shape = [int(d) for d in info["shape"]]
        begin, end = (int(x) for x in info["data_offsets"])
        count = int(np.prod(shape)) if shape else 1
        if dtype not in _SIZES:
            raise ValueError(f"{path}: tensor {name}: unsupported dtype {dtype}")
        if end - begin != count * _SIZES[dtype] or base + end > len(data) or begin > end:
            raise ValueError(f"{path}: tensor {name}: bad data_offsets {begin},{end} "
                             f"for {dtype} {shape}")
        raw = data[base + begin:base + end]
        if dtype == "BF16":
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            array = bits.view(np.float32)
        else:
            array = np.frombuffer(raw, dtype=_NP_DTYPES[dtype])
            if dtype == "F16":
                array = array.astype(np.float32)
        tensors[name] = torch.from_numpy(np.array(array, copy=True)).reshape(shape)
    return tensors, metadata


def load_model_tensors(model_dir):
    """All tensors of a model directory (single file or sharded with an index)."""
    single = os.path.join(model_dir, "model.safetensors")
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(single):
        return read_safetensors(single)[0]
    if os.path.exists(index):
        with open(index) as f:
            weight_map = json.load(f)["weight_map"]
        tensors = {}
        for shard in sorted(set(weight_map.values())):
            part, _ = read_safetensors(os.path.join(model_dir, shard))
            for name, value in part.items():
                if name in tensors:
                    raise ValueError(f"tensor {name} appears in more than one shard")
                tensors[name] = value
        missing = [n for n in weight_map if n not in tensors]
        if missing:
            raise ValueError(f"index names tensors missing from the shards: {missing[:5]}")
        return tensors
    raise FileNotFoundError(f"{model_dir}: no model.safetensors or model.safetensors.index.json")


def _bf16_bits(t):
    """Round-to-nearest-even float32 -> bfloat16 bit patterns (uint16 numpy array)."""
    bits = t.detach().to(torch.float32).contiguous().numpy().view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    nan = np.isnan(t.detach().to(torch.float32).numpy())
    out = rounded.astype(np.uint16)
    out[nan] = 0x7FC0
    return out


def save_safetensors(path, tensors, dtype=torch.float32, metadata=None):
    """Writes {name: tensor} as safetensors: keys sorted, "__metadata__" first, each tensor's
    data aligned to 8 bytes (the header is padded with spaces so data starts 8-aligned)."""
    names = sorted(tensors)
    blobs = []
    header = {"__metadata__": dict(metadata or {"format": "pt"})}
    offset = 0
    for name in names:
        t = tensors[name].detach().cpu()
        if dtype == torch.bfloat16:
            raw, code = _bf16_bits(t).tobytes(), "BF16"
        elif dtype == torch.float16:
            raw, code = t.to(torch.float32).numpy().astype("<f2").tobytes(), "F16"
        elif dtype == torch.float32:
            raw, code = t.to(torch.float32).contiguous().numpy().astype("<f4").tobytes(), "F32"
        else:
            raise ValueError(f"unsupported dtype {dtype}")
        pad = (-len(raw)) % 8
        header[name] = {"dtype": code, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw + b"\0" * pad)
        offset += len(raw) + pad
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((-len(text)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


# ---------------------------------------------------------------------------------------------
# shared pieces


def activation(name):
    name = (name or "").lower()
    if name in ("silu", "swish"):
        return F.silu
    if name in ("gelu_new", "gelu_pytorch_tanh", "gelu_fast", "gelu_python_tanh"):
        return lambda x: F.gelu(x, approximate="tanh")
    if name == "gelu":
        return F.gelu
    if name == "relu":
        return F.relu
    raise ValueError(f"unsupported activation {name!r}")


def causal_attention(q, k, v, scale, sliding_window=None):
    """q: [..., heads, seq, d], k/v: [..., kv_heads, seq, d]; grouped-query attention by
    repeating each k/v head for its group of consecutive query heads (HF repeat_kv)."""
    heads, seq = q.shape[-3], q.shape[-2]
    groups = heads // k.shape[-3]
    if groups > 1:
        k = k.repeat_interleave(groups, dim=-3)
        v = v.repeat_interleave(groups, dim=-3)
    scores = torch.matmul(q, k.transpose(-1, -2)) * scale
    i = torch.arange(seq).unsqueeze(1)
    j = torch.arange(seq).unsqueeze(0)
    masked = j > i
    if sliding_window:
        masked = masked | (i - j >= sliding_window)
    scores = scores.masked_fill(masked, float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    return torch.matmul(probs, v)


# ---------------------------------------------------------------------------------------------
# Llama family


def rope_inv_freq(config, head_dim, dtype=torch.float32):
    """inv_freq exactly as transformers' rope init functions compute it (default, linear, llama3)."""
    base = float(config.get("rope_theta", 10000.0))
    dim = int(head_dim * float(config.get("partial_rotary_factor", 1.0)))
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).to(dtype) / dim))
    scaling = config.get("rope_scaling") or {}
    rope_type = scaling.get("rope_type", scaling.get("type", "default")) if scaling else "default"
    if rope_type == "default":
        return inv_freq, 1.0
    if rope_type == "linear":
        return inv_freq / float(scaling["factor"]), 1.0
    if rope_type == "llama3":
        factor = float(scaling["factor"])
        low_freq_factor = float(scaling["low_freq_factor"])
        high_freq_factor = float(scaling["high_freq_factor"])
        old_context_len = float(scaling["original_max_position_embeddings"])
        low_freq_wavelen = old_context_len / low_freq_factor
        high_freq_wavelen = old_context_len / high_freq_factor
        wavelen = 2 * math.pi / inv_freq
        inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
        smooth_factor = (old_context_len / wavelen - low_freq_factor) / (
            high_freq_factor - low_freq_factor)
        smoothed = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
        is_medium = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
        return torch.where(is_medium, smoothed, inv_freq_llama), 1.0
    raise ValueError(f"unsupported rope_scaling type {rope_type!r}")


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class RMSNorm(nn.Module):
    def __init__(self, size, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x):
        dtype = x.dtype
        h = x.to(torch.float32) if dtype not in (torch.float32, torch.float64) else x
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(dtype)


class LlamaAttention(nn.Module):
    def __init__(self, c, layer_idx):
        super().__init__()
        hidden = c["hidden_size"]
        self.heads = c["num_attention_heads"]
        self.kv_heads = c.get("num_key_value_heads") or self.heads
        self.head_dim = c.get("head_dim") or hidden // self.heads
        qkv_bias = bool(c.get("attention_bias", False)) or c["model_type"] == "qwen2"
        self.q_proj = nn.Linear(hidden, self.heads * self.head_dim, bias=qkv_bias)
        self.k_proj = nn.Linear(hidden, self.kv_heads * self.head_dim, bias=qkv_bias)
        self.v_proj = nn.Linear(hidden, self.kv_heads * self.head_dim, bias=qkv_bias)
        self.o_proj = nn.Linear(self.heads * self.head_dim, hidden,
                                bias=bool(c.get("attention_bias", False)))
        self.sliding_window = None
        if c["model_type"] == "mistral":
            self.sliding_window = c.get("sliding_window")
        elif c["model_type"] == "qwen2" and c.get("use_sliding_window", False):
            if layer_idx >= c.get("max_window_layers", 0):
                self.sliding_window = c.get("sliding_window")

    def forward(self, x, cos, sin):
        lead, seq = x.shape[:-2], x.shape[-2]
        q = self.q_proj(x).view(*lead, seq, self.heads, self.head_dim).transpose(-2, -3)
        k = self.k_proj(x).view(*lead, seq, self.kv_heads, self.head_dim).transpose(-2, -3)
        v = self.v_proj(x).view(*lead, seq, self.kv_heads, self.head_dim).transpose(-2, -3)
        rot = cos.shape[-1]
        if rot == self.head_dim:
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
        else:  # partial rotary: rotate the first `rot` dims only
            q = torch.cat((q[..., :rot] * cos + rotate_half(q[..., :rot]) * sin, q[..., rot:]), -1)
            k = torch.cat((k[..., :rot] * cos + rotate_half(k[..., :rot]) * sin, k[..., rot:]), -1)
        out = causal_attention(q, k, v, self.head_dim ** -0.5, self.sliding_window)
        return self.o_proj(out.transpose(-2, -3).reshape(*lead, seq, self.heads * self.head_dim))


class LlamaMLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        hidden, inter = c["hidden_size"], c["intermediate_size"]
        bias = bool(c.get("mlp_bias", False))
        self.gate_proj = nn.Linear(hidden, inter, bias=bias)
        self.up_proj = nn.Linear(hidden, inter, bias=bias)
        self.down_proj = nn.Linear(inter, hidden, bias=bias)
        self.act = activation(c.get("hidden_act", "silu"))

    def forward(self, x):
        return self.down_proj(self.act(self.gate_proj(x)) * self.up_proj(x))


class LlamaLayer(nn.Module):
    def __init__(self, c, layer_idx):
        super().__init__()
        eps = float(c.get("rms_norm_eps", 1e-6))
        self.input_layernorm = RMSNorm(c["hidden_size"], eps)
        self.self_attn = LlamaAttention(c, layer_idx)
        self.post_attention_layernorm = RMSNorm(c["hidden_size"], eps)
        self.mlp = LlamaMLP(c)

    def forward(self, x, cos, sin):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList(LlamaLayer(c, i) for i in range(c["num_hidden_layers"]))
        self.norm = RMSNorm(c["hidden_size"], float(c.get("rms_norm_eps", 1e-6)))


class LlamaForCausalLM(nn.Module):
    """HF-named parameters: model.embed_tokens.weight, model.layers.N...., lm_head.weight."""

    def __init__(self, config):
        super().__init__()
        c = dict(config)
        c.setdefault("model_type", "llama")
        self.config = c
        self.model = LlamaModel(c)
        self.tied = bool(c.get("tie_word_embeddings", False))
        if not self.tied:
            self.lm_head = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)
        heads = c["num_attention_heads"]
        self.head_dim = c.get("head_dim") or c["hidden_size"] // heads

    def rope(self, positions, dtype):
        # inv_freq in float32 as transformers computes it; the angles in the compute dtype.
        inv_freq, scale = rope_inv_freq(self.config, self.head_dim, torch.float32)
        inv_freq = inv_freq.to(torch.float64 if dtype == torch.float64 else torch.float32)
        freqs = positions.to(inv_freq.dtype)[:, None] * inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        return (emb.cos() * scale).to(dtype), (emb.sin() * scale).to(dtype)

    def forward(self, token_ids, positions=None):
        token_ids = torch.as_tensor(token_ids, dtype=torch.long)
        if positions is None:
            positions = torch.arange(token_ids.shape[-1])
        x = self.model.embed_tokens(token_ids)
        cos, sin = self.rope(positions, x.dtype)
        for layer in self.model.layers:
            x = layer(x, cos, sin)
        x = self.model.norm(x)
        head = self.model.embed_tokens.weight if self.tied else self.lm_head.weight
        return x @ head.t()


# ---------------------------------------------------------------------------------------------
# GPT-2


class Conv1D(nn.Module):
    """HF GPT-2 Conv1D: weight [in, out], y = x @ W + b."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(n_in, n_out))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x):
        return x @ self.weight + self.bias


class GPT2Attention(nn.Module):
    def __init__(self, c, layer_idx):
        super().__init__()
        self.n_embd, self.n_head = c["n_embd"], c["n_head"]
        self.c_attn = Conv1D(self.n_embd, 3 * self.n_embd)
        self.c_proj = Conv1D(self.n_embd, self.n_embd)
        head_dim = self.n_embd // self.n_head
        self.scale = head_dim ** -0.5 if c.get("scale_attn_weights", True) else 1.0
        if c.get("scale_attn_by_inverse_layer_idx", False):
            self.scale /= float(layer_idx + 1)

    def forward(self, x):
        lead, seq = x.shape[:-2], x.shape[-2]
        d = self.n_embd // self.n_head
        q, k, v = self.c_attn(x).split(self.n_embd, dim=-1)
        q, k, v = (t.view(*lead, seq, self.n_head, d).transpose(-2, -3) for t in (q, k, v))
        out = causal_attention(q, k, v, self.scale)
        return self.c_proj(out.transpose(-2, -3).reshape(*lead, seq, self.n_embd))


class GPT2MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        inner = c.get("n_inner") or 4 * c["n_embd"]
        self.c_fc = Conv1D(c["n_embd"], inner)
        self.c_proj = Conv1D(inner, c["n_embd"])
        self.act = activation(c.get("activation_function", "gelu_new"))

    def forward(self, x):
        return self.c_proj(self.act(self.c_fc(x)))


class GPT2Block(nn.Module):
    def __init__(self, c, layer_idx):
        super().__init__()
        eps = float(c.get("layer_norm_epsilon", 1e-5))
        self.ln_1 = nn.LayerNorm(c["n_embd"], eps=eps)
        self.attn = GPT2Attention(c, layer_idx)
        self.ln_2 = nn.LayerNorm(c["n_embd"], eps=eps)
        self.mlp = GPT2MLP(c)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT2Model(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.wte = nn.Embedding(c["vocab_size"], c["n_embd"])
        self.wpe = nn.Embedding(c["n_positions"], c["n_embd"])
        self.h = nn.ModuleList(GPT2Block(c, i) for i in range(c["n_layer"]))
        self.ln_f = nn.LayerNorm(c["n_embd"], eps=float(c.get("layer_norm_epsilon", 1e-5)))


class GPT2LMHeadModel(nn.Module):
    """HF-named parameters: transformer.wte.weight, transformer.h.N...., lm_head.weight."""

    def __init__(self, config):
        super().__init__()
        c = dict(config)
        c.setdefault("model_type", "gpt2")
        self.config = c
        self.transformer = GPT2Model(c)
        self.tied = bool(c.get("tie_word_embeddings", True))
        if not self.tied:
            self.lm_head = nn.Linear(c["n_embd"], c["vocab_size"], bias=False)

    def forward(self, token_ids, positions=None):
        token_ids = torch.as_tensor(token_ids, dtype=torch.long)
        if positions is None:
            positions = torch.arange(token_ids.shape[-1])
        t = self.transformer
        x = t.wte(token_ids) + t.wpe(positions)
        for block in t.h:
            x = block(x)
        x = t.ln_f(x)
        head = t.wte.weight if self.tied else self.lm_head.weight
        return x @ head.t()


# ---------------------------------------------------------------------------------------------
# loading


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


def load_model(model_dir, dtype=torch.float32, verbose=False):
    """Builds the model for a directory's config.json and loads its weights (as `dtype`)."""
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
    model.load_state_dict({n: tensors[n] for n in expected}, strict=True)
    model.to(dtype)
    model.eval()
    return model


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
    parser.add_argument("--json", action="store_true",
                        help="print {tokens, logits (all positions)} as JSON")
    args = parser.parse_args()
    torch.set_num_threads(1)
    dtype = torch.float64 if args.float64 else torch.float32
    model = load_model(args.model, dtype, verbose=True)
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
