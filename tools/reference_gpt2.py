"""GPT-2 for the reference model (tools/reference_model.py), with Hugging Face's parameter
names (transformer.h.N...., Conv1D weights stored [in, out])."""

import torch
import torch.nn as nn

from reference_layers import activation, causal_attention, product_input


class Conv1D(nn.Module):
    """HF GPT-2 Conv1D: weight [in, out], y = x @ W + b; x quantized first when quantize_input
    is set (reference_layers.Linear)."""

    quantize_input = False

    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(n_in, n_out))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x):
        return product_input(x, self.quantize_input) @ self.weight + self.bias


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
        self.quantize_head_input = False  # the head's input, as reference_layers.Linear

    def forward(self, token_ids, positions=None):
        token_ids = torch.as_tensor(token_ids, dtype=torch.long)
        if positions is None:
            positions = torch.arange(token_ids.shape[-1])
        t = self.transformer
        x = t.wte(token_ids) + t.wpe(positions)
        for block in t.h:
            x = block(x)
        x = product_input(t.ln_f(x), self.quantize_head_input)
        head = t.wte.weight if self.tied else self.lm_head.weight
        return x @ head.t()
