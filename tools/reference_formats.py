"""The engine's weight formats for the reference model (tools/reference_model.py): each weight
matrix rounded the way the engine holds it (engine/quant/), then widened back to float32, so
that the reference computes in float32 (or float64) with exactly the weights the engine reads.

Written from the formats' definitions, not from the engine's code, in numpy float32 arithmetic
(every step a single IEEE operation, so the same bits as the engine's float32 code):
  bfloat16, float16  each weight rounded to nearest even (F16C / AVX512-BF16 conversions)
  int8  (GGUF Q8_0)  blocks of 32 along a row; d = max|w| / 127 stored as float16;
                     q = nearbyint(w * (1/d)) in [-127, 127]; w' = d * q
  int4  (GGUF Q4_0)  blocks of 32 along a row; d = m / -8, m the block's weight of largest
                     magnitude (the first on ties) with its sign, stored as float16;
                     nibble = nearbyint(w * (1/d)) + 8 in [0, 15]; w' = d * (nibble - 8)
The scale is rounded to float16 before the levels are chosen, so they are chosen against the d
the kernels multiply by; 1/d is taken in float32, as the engine does, and a zero d gives zero
levels. d * level is exact in float32 (11 + 7 significant bits), so the widening adds nothing.

Which tensors (engine/engine.cc): every weight matrix of the model -- the token embedding, the
logits head, q/k/v/o (GPT-2's c_attn and attn.c_proj), gate/up/down (c_fc and mlp.c_proj) -- in
the chosen format, except that with int4 the logits head is held in int8, and so is the
embedding when the head is tied to it (one matrix). Norms, biases and GPT-2's position
embeddings stay float32. Rows are output rows: GPT-2's Conv1D weights, stored [in, out], are
blocked along `in` (the transpose's rows). Llama's q/k/v (and gate/up) are one matrix in the
engine, concatenated by rows, which leaves every row's blocks as they are here. A matrix whose
rows are not whole blocks (the built-in model's 688-wide down projection) is held in float16
instead of int8 or int4.

Which products quantize their inputs (the integer kernels, AVX512-VNNI / AVX2): every matrix
product whose weights are held in Q8_0 or Q4_0 -- q/k/v, o, gate/up, down (GPT-2: c_attn,
attn.c_proj, c_fc, mlp.c_proj) and the logits head (in int4 too, held in int8 there) -- first
quantizes each input row x (float32, k a multiple of 32) per block of 32 (quantize_activations)
and multiplies the weights by those values: y = W' x' (+ bias, added after). Not the bfloat16,
float16 and float32 matrices, nor the float16 fallback of a matrix whose rows are not whole
blocks, nor the embedding lookup (it reads a row of the dequantized matrix). round_weights says
which matrices those are; the reference model quantizes the inputs of exactly their products.
  per block: amax = max|x|; d = amax / 127, inv = 127 / amax (two float32 divisions);
             q = nearbyint(x * inv) in [-127, 127] (a float32 product, ties to even); x' = d * q
             (amax = 0: d = 0, q = 0)
d * q has up to 24 + 7 significant bits, so x' is formed in float64, where it is exact.
"""

import numpy as np
import torch

FORMATS = ("float32", "bfloat16", "float16", "int8", "int4")
BLOCK_FORMATS = ("int8", "int4")
BLOCK = 32  # weights per block along a row


def head_format(weight_format):
    """The logits head's format: int4 moves the next-token distribution too much there."""
    return "int8" if weight_format == "int4" else weight_format


def round_bfloat16(w):
    """float32 array -> the nearest bfloat16 values (ties to even), as float32."""
    bits = np.ascontiguousarray(w, dtype=np.float32).view(np.uint32).astype(np.uint64)
    top = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    nan = (bits & 0x7FFFFFFF) > 0x7F800000
    top = np.where(nan, (bits >> 16) | 0x40, top)  # a NaN stays a (quiet) NaN
    return (top.astype(np.uint32) << 16).view(np.float32)


def round_float16(w):
    """float32 array -> the nearest IEEE binary16 values (ties to even, subnormals kept), as
    float32. numpy's conversion rounds to nearest even, overflowing to infinity past 65504."""
    with np.errstate(over="ignore"):
        return np.asarray(w, dtype=np.float32).astype(np.float16).astype(np.float32)


def _levels(blocks, d, lowest, highest, offset):
    # The engine multiplies by a float32 inverse rather than dividing: w * (1/d) can round to
    # another level than w / d, so the same two float32 operations are done here.
    inverse = np.zeros_like(d)
    np.divide(np.float32(1), d, out=inverse, where=d != 0)
    scaled = blocks * inverse[:, None]
    levels = np.clip(np.rint(scaled) + np.float32(offset), lowest, highest)
    return levels.astype(np.int32).astype(np.float32)  # integers, as stored: no -0


def round_q8_0(w):
    """[n, k] float32 (k a multiple of 32) -> the Q8_0 blocks' values, float32 [n, k]."""
    blocks = np.ascontiguousarray(w, dtype=np.float32).reshape(-1, BLOCK)
    amax = np.abs(blocks).max(axis=1)
    d = round_float16(amax / np.float32(127))
    q = _levels(blocks, d, -127, 127, 0)
    return (d[:, None] * q).astype(np.float32).reshape(w.shape)


def round_q4_0(w):
    """[n, k] float32 (k a multiple of 32) -> the Q4_0 blocks' values, float32 [n, k]."""
    blocks = np.ascontiguousarray(w, dtype=np.float32).reshape(-1, BLOCK)
    first_largest = np.argmax(np.abs(blocks), axis=1)  # argmax takes the first of equals
    extreme = blocks[np.arange(blocks.shape[0]), first_largest]
    d = round_float16(extreme / np.float32(-8))
    nibble = _levels(blocks, d, 0, 15, 8)
    return (d[:, None] * (nibble - np.float32(8))).astype(np.float32).reshape(w.shape)


def quantize_activations(x):
    """[..., k] float32 array (k a multiple of 32) -> the values the integer kernels multiply
    the Q8_0 / Q4_0 weights by, as float64 [..., k]: per block of 32 along the last axis,
    amax = max|x|, d = amax / 127, q = nearbyint(x * (127 / amax)), x' = d * q (all 0 when
    amax is 0)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.shape[-1] % BLOCK != 0:
        raise ValueError(f"quantize_activations: length {x.shape[-1]} is not whole blocks")
    blocks = x.reshape(-1, BLOCK)
    amax = np.abs(blocks).max(axis=1)
    d = np.zeros_like(amax)
    inverse = np.zeros_like(amax)
    np.divide(amax, np.float32(127), out=d, where=amax != 0)
    np.divide(np.float32(127), amax, out=inverse, where=amax != 0)
    q = np.rint(blocks * inverse[:, None])  # a float32 product, rounded half to even
    return (d.astype(np.float64)[:, None] * q.astype(np.float64)).reshape(x.shape)


def quantized_input(x):
    """A tensor [..., k] as the integer kernels see it (quantize_activations on its float32
    values), in x's dtype (exact in float64; float32 rounds d * q once more). Not
    differentiable: for inference only."""
    deq = quantize_activations(x.detach().to(torch.float32).cpu().numpy())
    return torch.from_numpy(deq).to(dtype=x.dtype, device=x.device)


_ROUNDERS = {"bfloat16": round_bfloat16, "float16": round_float16, "int8": round_q8_0,
             "int4": round_q4_0}


def held_format(weight_format, k):
    """The format the engine holds a matrix of rows of length k in when asked for
    `weight_format`: the block formats fall back to float16 for rows that are not whole blocks."""
    if weight_format in BLOCK_FORMATS and k % BLOCK != 0:
        return "float16"  # the engine's fallback: no partial blocks
    return weight_format


def round_matrix(weight, weight_format, in_out=False):
    """A weight matrix tensor [rows, k] (or [k, rows] with in_out) as the engine holds it in
    `weight_format`, widened to a float32 tensor of the same shape."""
    if weight_format == "float32":
        return weight.to(torch.float32)
    w = weight.detach().to(torch.float32).numpy()
    if in_out:
        w = w.T
    rounded = _ROUNDERS[held_format(weight_format, w.shape[1])](np.ascontiguousarray(w))
    return torch.from_numpy(np.ascontiguousarray(rounded.T if in_out else rounded))


def round_weights(tensors, weight_format, model_type, tied):
    """The reference's state dict {name: tensor} with every matrix the engine packs rounded as
    the engine holds it in `weight_format` (a new dict; the rest is shared, unchanged), and the
    set of the names of the matrices held in int8 or int4 whose products quantize their inputs
    (quantize_activations): the head's name among them when it is (the embedding's, if tied),
    never an untied embedding's. `tied`: the embedding is also the head. (The engine ties them
    when the checkpoint has no lm_head.weight; a checkpoint tied in config.json that still
    carries one would be held apart there, and differ in int4.)"""
    if weight_format not in FORMATS:
        raise ValueError(f"unknown weight format {weight_format!r}; one of {', '.join(FORMATS)}")
    gpt2 = model_type == "gpt2"
    embed = "transformer.wte.weight" if gpt2 else "model.embed_tokens.weight"
    out = dict(tensors)
    quantized_inputs = set()
    for name, value in tensors.items():
        if value.dim() != 2 or name == "transformer.wpe.weight":
            continue  # norms, biases and learned positions stay float32
        is_head = name == "lm_head.weight" or (tied and name == embed)
        fmt = head_format(weight_format) if is_head else weight_format
        in_out = gpt2 and name.startswith("transformer.h.")  # Conv1D: [in, out]
        out[name] = round_matrix(value, fmt, in_out)
        k = value.shape[0 if in_out else 1]
        if held_format(fmt, k) in BLOCK_FORMATS and (is_head or name != embed):
            quantized_inputs.add(name)
    return out, quantized_inputs
