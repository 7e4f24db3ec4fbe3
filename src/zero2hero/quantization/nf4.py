"""NF4 (QLoRA's 4-bit NormalFloat): 16 levels placed at quantiles of a normal distribution, so that
normally distributed weights use every code about equally often; absmax-scaled per block of 64."""

from __future__ import annotations

import torch

from zero2hero.quantization.checks import check_group, check_tensor
from zero2hero.quantization.pack import pack_nibbles, unpack_nibbles

# The 16 NF4 levels (Dettmers et al. 2023): 8 positive and 7 negative normal quantiles scaled to [-1, 1]
# plus an exact zero.
NF4_CODEBOOK = torch.tensor([
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
    -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
    0.24611230194568634, 0.33791524171829224, 0.44070982672119141, 0.5626170039176941,
    0.7229568362236023, 1.0,
])


def nf4_quantize(x: torch.Tensor, block_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """``(..., n)`` float -> ``(packed, absmax)``: packed ``(n_blocks, block_size // 2)`` uint8 nibbles
    (index of the nearest level after dividing by the block's max |x|), absmax ``(n_blocks, 1)`` float32."""
    x = check_tensor(x)
    check_group(x, block_size)
    blocks = x.reshape(-1, block_size)
    absmax = blocks.abs().amax(dim=1, keepdim=True)
    normed = blocks / torch.where(absmax == 0, torch.ones_like(absmax), absmax)
    # The nearest level: levels are sorted, so compare against the midpoints between neighbours.
    midpoints = (NF4_CODEBOOK[1:] + NF4_CODEBOOK[:-1]) / 2
    codes = torch.bucketize(normed, midpoints)
    return pack_nibbles(codes), absmax


def nf4_dequantize(packed: torch.Tensor, absmax: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Inverse of :func:`nf4_quantize`, back to float32 of ``shape``."""
    return (NF4_CODEBOOK[unpack_nibbles(packed).long()] * absmax).reshape(shape)
