"""Our LLaMA into a GGUF file llama.cpp runs, written byte by byte: the reverse of :mod:`~zero2hero.llama.gguf_reader`.

The file is, in order, all little-endian (see the reader's docstring for the same layout read back):

1. ``b"GGUF"``, the version 3 (uint32), the tensor count and the metadata count (uint64 each);
2. the metadata: per entry a string key, a uint32 value type and the value (``llama.*`` hyperparameters, the file
   type and, optionally, the tokenizer's ``tokenizer.*`` keys);
3. the tensor infos: per tensor its name, its number of dimensions, the sizes innermost first, its ggml type and the
   offset of its data from the start of the data section;
4. zero bytes up to a multiple of 32 (the alignment), then each tensor's bytes, each padded to a multiple of 32.

Two conversions happen on the way: the rows of every query and key projection are put in llama.cpp's order
(:func:`permute_rotary`, the inverse of :func:`~zero2hero.llama.gguf_model.unpermute_rotary`), and the matrices are
stored as float32 or quantised with chapter 4's Q8_0/Q4_0, Q5_0, or Q4_K (norm weights and every 1-D tensor stay
float32, as in llama.cpp's converter: they are tiny and sensitive). Q4_K stores rows in super-blocks of 256 values; a
matrix whose rows are not a multiple of 256 long (all of SmolLM2's but ``ffn_down``: its rows are 576 long) is
stored as Q5_0 instead, the fallback llama.cpp's ``llama-quantize`` picks for Q4_K.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from zero2hero.errors import InputError
from zero2hero.files import atomic_write_bytes
from zero2hero.llama.gguf_model import gguf_names
from zero2hero.llama.gguf_reader import DEFAULT_ALIGNMENT, MAGIC, GGUFFile, ValueType
from zero2hero.llama.model import Llama
from zero2hero.quantization.ggml import BLOCK, quantize_q4_0, quantize_q8_0
from zero2hero.quantization.kquant import SUPER_BLOCK, quantize_q4_k
from zero2hero.quantization.q5_0 import quantize_q5_0

VERSION = 3
QUANTIZATION_VERSION = 2  # ggml's GGML_QNT_VERSION: the block layouts of Q8_0/Q4_0/Q5_0/Q4_K as written today
F32 = 0  # ggml's type number for float32: every 1-D tensor, and every matrix of an "f32" file


@dataclass(frozen=True)
class Format:
    """How the matrices of a file are stored."""

    type_id: int  # ggml type of every matrix (ggml.h's enum ggml_type)
    file_type: int  # llama.cpp's ``general.file_type`` (enum llama_ftype): what llama-cli prints as the model type
    # (rows, cols) float32 -> (rows, cols / block * bytes per block) uint8 blocks; None stores plain float32
    quantize: Callable[[torch.Tensor], torch.Tensor] | None
    block: int = BLOCK  # values per block: the length of every row must be a multiple of it
    fallback: str | None = None  # the format (a key of FORMATS) of matrices whose rows do not fill whole blocks


FORMATS = {
    "f32": Format(type_id=F32, file_type=0, quantize=None),
    "q8_0": Format(type_id=8, file_type=7, quantize=quantize_q8_0),
    "q4_0": Format(type_id=2, file_type=2, quantize=quantize_q4_0),
    "q5_0": Format(type_id=6, file_type=8, quantize=quantize_q5_0),
    # llama.cpp's file type "Q4_K - Small": Q4_K for every matrix it fits (its own Q4_K_S recipe also keeps a few
    # tensors at Q5_K/Q6_K, which we do not write)
    "q4_k": Format(type_id=12, file_type=14, quantize=quantize_q4_k, block=SUPER_BLOCK, fallback="q5_0"),
}


# ---- encoding values ----

def _string(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack("<Q", len(data)) + data


def _int_type(values: list[int], scalar: bool) -> ValueType:
    """A whole number's GGUF type: llama.cpp reads token ids and counts as uint32 and token-type arrays as int32."""
    if scalar and all(0 <= v < 2**32 for v in values):
        return ValueType.UINT32
    if all(-(2**31) <= v < 2**31 for v in values):
        return ValueType.INT32
    return ValueType.INT64


def _value_type(value: Any, scalar: bool = True) -> ValueType:
    """The GGUF type of a Python value (bool is tested before int: in Python, True is an int)."""
    if isinstance(value, bool):
        return ValueType.BOOL
    if isinstance(value, int):
        return _int_type([value], scalar)
    if isinstance(value, float):
        return ValueType.FLOAT32
    if isinstance(value, str):
        return ValueType.STRING
    if isinstance(value, list):
        return ValueType.ARRAY
    raise InputError(f"the metadata value {value!r} is a {type(value).__name__}",
                     "metadata values are bool, int, float, str or lists of them")


def _array_item_type(items: list[Any]) -> ValueType:
    """One element type for a whole array; an empty array is stored as an array of int32."""
    kinds = {_value_type(item, scalar=False) for item in items}
    if kinds <= {ValueType.INT32, ValueType.INT64}:  # all whole numbers: the widest type any of them needs
        return _int_type(items, scalar=False) if items else ValueType.INT32
    if len(kinds) > 1:
        raise InputError(f"an array mixes {', '.join(sorted(k.name for k in kinds))} values",
                         "every element of a GGUF array has the same type")
    return kinds.pop()


_SCALAR_FORMATS = {ValueType.UINT32: "<I", ValueType.INT32: "<i", ValueType.INT64: "<q", ValueType.FLOAT32: "<f",
                   ValueType.BOOL: "<?"}


def _encode(kind: ValueType, value: Any) -> bytes:
    """The bytes of ``value`` stored as ``kind`` (without the type code: an array's elements carry none)."""
    if kind == ValueType.STRING:
        return _string(value)
    if kind != ValueType.ARRAY:
        return struct.pack(_SCALAR_FORMATS[kind], value)
    item = _array_item_type(value)
    return struct.pack("<IQ", item, len(value)) + b"".join(_encode(item, v) for v in value)


def _metadata_entry(key: str, value: Any) -> bytes:
    kind = _value_type(value)
    return _string(key) + struct.pack("<I", kind) + _encode(kind, value)


# ---- the model's metadata and tensors ----

def llama_metadata(model: Llama, fmt: str) -> dict[str, Any]:
    """The metadata llama.cpp reads to build a LLaMA, in the order its converter writes them."""
    cfg = model.config
    return {
        "general.architecture": "llama",
        "general.file_type": FORMATS[fmt].file_type,
        "general.quantization_version": QUANTIZATION_VERSION,
        "llama.vocab_size": cfg.vocab_size,
        "llama.context_length": cfg.max_position_embeddings,
        "llama.embedding_length": cfg.hidden_size,
        "llama.block_count": cfg.num_hidden_layers,
        "llama.feed_forward_length": cfg.intermediate_size,
        "llama.attention.head_count": cfg.num_attention_heads,
        "llama.attention.head_count_kv": cfg.num_key_value_heads,
        "llama.attention.key_length": cfg.head_dim,
        "llama.attention.value_length": cfg.head_dim,
        "llama.rope.dimension_count": cfg.head_dim,  # the whole head is rotated
        "llama.rope.freq_base": float(cfg.rope_theta),
        "llama.attention.layer_norm_rms_epsilon": float(cfg.rms_norm_eps),
    }


def permute_rotary(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """transformers' row order of a query or key projection -> llama.cpp's: (n_heads * head_dim, hidden), same shape.

    Per head, transformers' row ``i`` becomes row ``2i`` and row ``i + head_dim / 2`` becomes row ``2i + 1``, so
    the two values llama.cpp's RoPE rotates together sit side by side.
    """
    rows, hidden = w.shape
    half = rows // n_heads // 2
    return w.reshape(n_heads, 2, half, hidden).transpose(1, 2).reshape(rows, hidden)


def _llama_tensors(model: Llama) -> dict[str, torch.Tensor]:
    """GGUF name -> float32 weight in llama.cpp's layout, for every parameter of ``model``."""
    cfg = model.config
    names = gguf_names(cfg)
    params = {name: p.detach().float() for name, p in model.named_parameters()}
    if set(params) != set(names):
        extra = sorted(set(params) - set(names))[:3]
        raise InputError(f"the model has parameters a plain LLaMA has not ({extra or 'some are missing'})",
                         "merge and unwrap LoRA adapters first (zero2hero.lora.inject.unwrap)")
    tensors = {}
    for ours, theirs in names.items():
        w = params[ours]
        if ours.endswith("q_proj.weight"):
            w = permute_rotary(w, cfg.num_attention_heads)
        elif ours.endswith("k_proj.weight"):
            w = permute_rotary(w, cfg.num_key_value_heads)
        tensors[theirs] = w
    return tensors


def _stored(name: str, w: torch.Tensor, fmt: Format) -> tuple[int, bytes]:
    """(ggml type, bytes) of one tensor: float32 for 1-D tensors and plain files, else ``fmt``'s blocks (its
    fallback's when the rows do not fill whole blocks of ``fmt``)."""
    if w.dim() == 1 or fmt.quantize is None:
        return F32, w.contiguous().numpy().tobytes()
    if w.shape[-1] % fmt.block and fmt.fallback:
        fmt = FORMATS[fmt.fallback]
    if w.shape[-1] % fmt.block:
        raise InputError(f"tensor {name!r} has rows of {w.shape[-1]} values, not a multiple of {fmt.block}",
                         f"quantised formats store blocks of {fmt.block} values: use fmt='f32' for this model")
    return fmt.type_id, fmt.quantize(w).contiguous().numpy().tobytes()


def _tensor_info(name: str, shape: tuple[int, ...], type_id: int, offset: int) -> bytes:
    dims = tuple(reversed(shape))  # GGUF lists sizes innermost first: [columns, rows]
    return (_string(name) + struct.pack("<I", len(dims)) + struct.pack(f"<{len(dims)}Q", *dims)
            + struct.pack("<IQ", type_id, offset))


def _pad(n: int) -> bytes:
    """Zero bytes that bring a length of ``n`` up to a multiple of the alignment."""
    return b"\0" * (-n % DEFAULT_ALIGNMENT)


def tokenizer_entries(gguf: GGUFFile) -> dict[str, Any]:
    """The ``tokenizer.*`` entries of a GGUF file (vocabulary, merges, special ids, chat template) to copy over."""
    return {key: value for key, value in gguf.metadata.items() if key.startswith("tokenizer.")}


def write_gguf(model: Llama, path: str | Path, fmt: str = "f32",
               tokenizer_metadata: dict[str, Any] | None = None) -> Path:
    """Write ``model`` to ``path`` as a GGUF file llama.cpp and transformers load; return ``path``.

    ``fmt``: ``"f32"``, ``"q8_0"``, ``"q4_0"``, ``"q5_0"`` or ``"q4_k"`` for the matrices (1-D tensors are always
    float32; with ``"q4_k"``, matrices whose rows are not a multiple of 256 long are stored as Q5_0).
    ``tokenizer_metadata``: ``tokenizer.*`` keys to store as well, e.g. ``tokenizer_entries(read_gguf(source))``;
    a whole number is stored as uint32 (int32 inside arrays), a float as float32.
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown GGUF format {fmt!r}", f"use one of {', '.join(FORMATS)}")
    if not isinstance(model, Llama):
        raise InputError(f"write_gguf writes a zero2hero Llama, not a {type(model).__name__}",
                         "convert the model first, e.g. zero2hero.llama.model.from_transformers(hf_model)")
    metadata = llama_metadata(model, fmt) | (tokenizer_metadata or {})
    infos, data = [], bytearray()
    for name, w in _llama_tensors(model).items():
        type_id, raw = _stored(name, w, FORMATS[fmt])
        infos.append(_tensor_info(name, tuple(w.shape), type_id, offset=len(data)))
        data += raw + _pad(len(raw))  # the next tensor starts aligned
    header = (MAGIC + struct.pack("<IQQ", VERSION, len(infos), len(metadata))
              + b"".join(_metadata_entry(key, value) for key, value in metadata.items()) + b"".join(infos))
    atomic_write_bytes(Path(path), header + _pad(len(header)) + bytes(data))
    return Path(path)
