"""GGML's block formats Q8_0, Q4_0 and Q4_1 from scratch, byte for byte equal to the reference
(``gguf.quants``, itself bit-exact with ggml-quants.c).

Every row of a weight is cut into blocks of 32 values; each block is stored as

* Q8_0 — fp16 scale ``d`` then 32 int8:              (2 + 32) bytes / 32 values = 8.5 bits per weight;
* Q4_0 — fp16 scale ``d`` then 16 bytes of nibbles:   (2 + 16) / 32 = 4.5 bits per weight;
* Q4_1 — fp16 scale ``d``, fp16 minimum ``m``, nibbles: (2 + 2 + 16) / 32 = 5.0 bits per weight.

Quantized tensors are uint8 of shape ``(*leading, n_blocks * bytes_per_block)``, as gguf returns them.
"""

from __future__ import annotations

import torch

from zero2hero.quantization.checks import check_group, check_tensor
from zero2hero.quantization.pack import pack_nibbles, unpack_nibbles

BLOCK = 32
BYTES_PER_BLOCK = {"q8_0": 34, "q4_0": 18, "q4_1": 20}
BITS_PER_WEIGHT = {name: 8 * size / BLOCK for name, size in BYTES_PER_BLOCK.items()}


def _blocks(x: torch.Tensor) -> torch.Tensor:
    x = check_tensor(x)
    check_group(x, BLOCK)
    return x.reshape(-1, BLOCK)


def _fp16_bytes(v: torch.Tensor) -> torch.Tensor:
    """``(n, 1)`` float32 -> ``(n, 2)`` uint8: the little-endian bytes of its fp16 rounding."""
    return v.to(torch.float16).view(torch.uint8).reshape(-1, 2)


def _fp16_from(b: torch.Tensor) -> torch.Tensor:
    return b.contiguous().view(torch.float16).float()


def _inverse(d: torch.Tensor) -> torch.Tensor:
    # 1/d computed once per block (as ggml does), 0 for an all-zero block.
    return torch.where(d == 0, torch.zeros_like(d), 1 / torch.where(d == 0, torch.ones_like(d), d))


def _round_half_away(v: torch.Tensor) -> torch.Tensor:
    # C's roundf: halves go away from zero (torch.round would send 2.5 to 2).
    a = v.abs()
    return torch.sign(v) * (torch.floor(a) + torch.floor(2 * (a - torch.floor(a))))


def _shape_out(x: torch.Tensor, per_block: int) -> tuple[int, ...]:
    return (*x.shape[:-1], x.shape[-1] // BLOCK * per_block)


def quantize_q8_0(x: torch.Tensor) -> torch.Tensor:
    """``(..., n)`` float -> ``(..., n / 32 * 34)`` uint8 Q8_0 blocks (``d = max|x| / 127``)."""
    blocks = _blocks(x)
    d = blocks.abs().amax(dim=1, keepdim=True) / 127
    q = _round_half_away(blocks * _inverse(d)).to(torch.int8).view(torch.uint8)
    return torch.cat([_fp16_bytes(d), q], dim=1).reshape(_shape_out(x, 34))


def dequantize_q8_0(data: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`quantize_q8_0`: ``(..., k * 34)`` uint8 -> ``(..., k * 32)`` float32."""
    blocks = data.reshape(-1, 34)
    d, q = _fp16_from(blocks[:, :2]), blocks[:, 2:].contiguous().view(torch.int8).float()
    return (q * d).reshape(*data.shape[:-1], -1)


def quantize_q4_0(x: torch.Tensor) -> torch.Tensor:
    """``(..., n)`` float -> ``(..., n / 32 * 18)`` uint8 Q4_0 blocks (``n`` a multiple of 32).

    Per block of 32 values: ``d = v / -8`` where ``v`` is the value of largest magnitude (sign kept),
    so that value becomes exactly code 0 (= -8 after the offset); each value's code is
    ``trunc(x * (1/d) + 8.5)`` clamped to 0..15 (an all-zero block has ``1/d`` taken as 0).
    Bytes per block: ``d`` as float16 (2 bytes, little-endian), then 16 bytes where byte ``j`` holds
    the code of value ``j`` in its low nibble and of value ``j + 16`` in its high nibble.
    """
    blocks = _blocks(x)
    v = torch.gather(blocks, 1, blocks.abs().argmax(dim=1, keepdim=True))
    d = v / -8
    codes = torch.trunc(blocks * _inverse(d) + 8.5).clamp(0, 15)
    return torch.cat([_fp16_bytes(d), pack_nibbles(codes)], dim=1).reshape(_shape_out(x, 18))


def dequantize_q4_0(data: torch.Tensor) -> torch.Tensor:
    blocks = data.reshape(-1, 18)
    d = _fp16_from(blocks[:, :2])
    return ((unpack_nibbles(blocks[:, 2:]).float() - 8) * d).reshape(*data.shape[:-1], -1)


def quantize_q4_1(x: torch.Tensor) -> torch.Tensor:
    """``(..., n)`` float -> ``(..., n / 32 * 20)`` uint8 Q4_1 blocks: ``x ≈ m + d * code``, code 0..15."""
    blocks = _blocks(x)
    low, high = blocks.amin(dim=1, keepdim=True), blocks.amax(dim=1, keepdim=True)
    d = (high - low) / 15
    codes = torch.trunc((blocks - low) * _inverse(d) + 0.5).clamp(0, 15)
    return torch.cat([_fp16_bytes(d), _fp16_bytes(low), pack_nibbles(codes)], dim=1).reshape(_shape_out(x, 20))


def dequantize_q4_1(data: torch.Tensor) -> torch.Tensor:
    blocks = data.reshape(-1, 20)
    d, m = _fp16_from(blocks[:, :2]), _fp16_from(blocks[:, 2:4])
    return (unpack_nibbles(blocks[:, 4:]).float() * d + m).reshape(*data.shape[:-1], -1)
