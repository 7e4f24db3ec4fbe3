"""GGML's Q5_0, byte for byte equal to ``gguf.quants``: the format llama.cpp stores a tensor in when Q4_K was asked
for but the tensor's rows are not a multiple of 256 values (SmolLM2's rows of 576, for one).

Q5_0 is Q4_0 with one more bit per code. Per block of 32 values: ``d = v / -16`` where ``v`` is the value of largest
magnitude (sign kept); each code is ``trunc(x / d + 16.5)`` clamped to 0..31 and decodes to ``(code - 16) * d``.
A block is 22 bytes = 5.5 bits per weight:

* bytes 0-1: ``d``, float16;
* bytes 2-5: the fifth (highest) bit of the 32 codes, a little-endian 32-bit word: bit ``j`` belongs to value ``j``;
* bytes 6-21: the low 4 bits of the codes as Q4_0's nibbles (byte ``j``: value ``j`` low, value ``j + 16`` high).
"""

from __future__ import annotations

import torch

from zero2hero.quantization.checks import check_group, check_tensor
from zero2hero.quantization.pack import pack_nibbles, unpack_nibbles

BLOCK = 32
BYTES_PER_BLOCK = 22
_BIT_VALUES = 2 ** torch.arange(8)  # the value of bit i in a byte


def quantize_q5_0(x: torch.Tensor) -> torch.Tensor:
    """``(..., n)`` float -> ``(..., n / 32 * 22)`` uint8 Q5_0 blocks (``n`` a multiple of 32)."""
    x = check_tensor(x)
    check_group(x, BLOCK)
    blocks = x.reshape(-1, BLOCK)
    v = torch.gather(blocks, 1, blocks.abs().argmax(dim=1, keepdim=True))
    d = v / -16
    inverse = torch.where(d == 0, torch.zeros_like(d), 1 / torch.where(d == 0, torch.ones_like(d), d))
    codes = torch.trunc(blocks * inverse + 16.5).clamp(0, 31).to(torch.uint8)
    fifth_bits = (codes >> 4).reshape(-1, 4, 8).long()  # 4 bytes of 8 bits each, value j at bit j % 8
    high = (fifth_bits * _BIT_VALUES).sum(dim=2).to(torch.uint8)
    low = pack_nibbles(codes & 0x0F)
    out = torch.cat([d.to(torch.float16).view(torch.uint8).reshape(-1, 2), high, low], dim=1)
    return out.reshape(*x.shape[:-1], x.shape[-1] // BLOCK * BYTES_PER_BLOCK)


def dequantize_q5_0(data: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`quantize_q5_0`: ``(..., k * 22)`` uint8 -> ``(..., k * 32)`` float32."""
    blocks = data.reshape(-1, BYTES_PER_BLOCK)
    d = blocks[:, :2].contiguous().view(torch.float16).float()
    fifth_bits = ((blocks[:, 2:6, None].long() // _BIT_VALUES) % 2).reshape(-1, BLOCK)
    codes = unpack_nibbles(blocks[:, 6:]).long() + 16 * fifth_bits
    return ((codes - 16).float() * d).reshape(*data.shape[:-1], -1)
