"""safetensors reading and writing for the reference model (tools/reference_model.py), parsed
here so that the reference needs only numpy and torch, not the safetensors package."""

import json
import os
import struct

import numpy as np
import torch

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
