"""GGML tensor types: how many bytes a GGUF tensor takes, and its values as float32.

A GGUF tensor's type is a number from ggml's ``enum ggml_type``. This reader turns seven of them into float32:
F32 and F16 (plain floats), the block formats Q8_0, Q4_0 and Q4_1 of chapter 4 and Q5_0 (32 values per block), and
Q4_K (super-blocks of 256 values, :mod:`zero2hero.quantization.kquant`). The others are named in errors, so a
learner knows which format a file uses.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from zero2hero.errors import InputError
from zero2hero.quantization import kquant, q5_0
from zero2hero.quantization.ggml import BYTES_PER_BLOCK, dequantize_q4_0, dequantize_q4_1, dequantize_q8_0

# ggml's type numbers (ggml.h); the gaps are types ggml removed.
TYPE_NAMES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1", 10: "Q2_K", 11: "Q3_K",
    12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S",
    20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS", 24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64",
    29: "IQ1_M", 30: "BF16", 34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4",
}


@dataclass(frozen=True)
class TypeLayout:
    """How one GGML type stores ``block`` consecutive values of a row in ``block_bytes`` bytes."""

    block: int
    block_bytes: int
    to_float: Callable[[torch.Tensor], torch.Tensor]  # (n_blocks * block_bytes,) uint8 -> (n_blocks * block,)


def _plain(dtype: torch.dtype) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda raw: raw.view(dtype).float()  # GGUF stores little-endian floats, as x86 and ARM do


READABLE = {
    0: TypeLayout(1, 4, _plain(torch.float32)),
    1: TypeLayout(1, 2, _plain(torch.float16)),
    2: TypeLayout(32, BYTES_PER_BLOCK["q4_0"], dequantize_q4_0),
    3: TypeLayout(32, BYTES_PER_BLOCK["q4_1"], dequantize_q4_1),
    6: TypeLayout(q5_0.BLOCK, q5_0.BYTES_PER_BLOCK, q5_0.dequantize_q5_0),
    8: TypeLayout(32, BYTES_PER_BLOCK["q8_0"], dequantize_q8_0),
    12: TypeLayout(kquant.SUPER_BLOCK, kquant.BYTES_PER_SUPER_BLOCK, kquant.dequantize_q4_k),
}


def type_name(type_id: int) -> str:
    return TYPE_NAMES.get(type_id, f"unknown type {type_id}")


def layout(type_id: int, tensor: str) -> TypeLayout:
    """The layout of a readable type; any other type raises :class:`InputError` naming it."""
    if type_id not in READABLE:
        readable = ", ".join(TYPE_NAMES[t] for t in READABLE)
        raise InputError(f"tensor {tensor!r} is stored as {type_name(type_id)}, which this reader does not "
                         f"dequantise (it reads {readable})",
                         f"use a GGUF file quantised to {readable} (llama.cpp's llama-quantize makes one)")
    return READABLE[type_id]


def tensor_nbytes(type_id: int, shape: tuple[int, ...], tensor: str) -> int:
    """Bytes of a tensor of ``shape`` (torch order: the last dimension is a row) stored as ``type_id``."""
    kind = layout(type_id, tensor)
    if shape[-1] % kind.block:
        raise InputError(f"tensor {tensor!r} has rows of {shape[-1]} values, not a whole number of "
                         f"{type_name(type_id)} blocks of {kind.block}",
                         "the file is corrupt: copy or convert it again")
    return math.prod(shape) // kind.block * kind.block_bytes


def to_float32(raw: torch.Tensor, type_id: int, shape: tuple[int, ...], tensor: str) -> torch.Tensor:
    """raw: (n_bytes,) uint8 of one tensor -> float32 tensor of ``shape``."""
    return layout(type_id, tensor).to_float(raw).reshape(shape)
