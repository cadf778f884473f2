"""Pieces the reference model's families share: the MLP activations by config name, causal
(optionally sliding-window, grouped-query) attention as Hugging Face computes it, and the
quantized-input switch of the matrix products."""

import torch
import torch.nn as nn
import torch.nn.functional as F

from reference_formats import quantized_input


def product_input(x, quantize):
    """A product's input as the engine multiplies it: quantized per block of 32 when its weights
    are held in int8 or int4 (reference_formats.quantize_activations), else x itself."""
    return quantized_input(x) if quantize else x


class Linear(nn.Linear):
    """nn.Linear (y = x W^T + b) whose input is quantized first when quantize_input is set
    (by reference_model.load_model, for the matrices held in int8 or int4)."""

    quantize_input = False

    def forward(self, x):
        return super().forward(product_input(x, self.quantize_input))


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
