"""The Llama family (llama, mistral, qwen2) for the reference model (tools/reference_model.py),
with Hugging Face's parameter names: grouped-query attention, optional biases, rotary
embeddings with rope_theta and rope_scaling of type "llama3" and "linear"."""

import math

import torch
import torch.nn as nn

from reference_layers import Linear, activation, causal_attention, product_input

LLAMA_TYPES = ("llama", "mistral", "qwen2")


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
        self.q_proj = Linear(hidden, self.heads * self.head_dim, bias=qkv_bias)
        self.k_proj = Linear(hidden, self.kv_heads * self.head_dim, bias=qkv_bias)
        self.v_proj = Linear(hidden, self.kv_heads * self.head_dim, bias=qkv_bias)
        self.o_proj = Linear(self.heads * self.head_dim, hidden,
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
        self.gate_proj = Linear(hidden, inter, bias=bias)
        self.up_proj = Linear(hidden, inter, bias=bias)
        self.down_proj = Linear(inter, hidden, bias=bias)
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
        self.quantize_head_input = False  # the head's input, as reference_layers.Linear
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
        x = product_input(self.model.norm(x), self.quantize_head_input)
        head = self.model.embed_tokens.weight if self.tied else self.lm_head.weight
        return x @ head.t()
