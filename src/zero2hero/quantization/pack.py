"""Two 4-bit codes per byte, in GGML's order: within each block, the first half of the block goes in the
low nibbles and the second half in the high nibbles (byte ``j`` holds values ``j`` and ``j + half``)."""

from __future__ import annotations

import torch

from zero2hero.errors import InputError


def pack_nibbles(codes: torch.Tensor) -> torch.Tensor:
    """``(n_blocks, block)`` codes in 0..15 -> ``(n_blocks, block // 2)`` uint8, GGML's order: with
    ``half = block // 2``, byte ``j`` is ``codes[:, j] | (codes[:, j + half] << 4)``. Codes outside
    0..15 or an odd block raise ``zero2hero.errors.InputError``."""
    if codes.dim() != 2 or codes.shape[1] % 2:
        raise InputError(f"expected (n_blocks, even block size) codes, got shape {tuple(codes.shape)}",
                         "reshape the codes into blocks first")
    if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) > 15):
        raise InputError("4-bit codes must lie in 0..15", "clamp or quantize the values first")
    codes = codes.to(torch.uint8)
    half = codes.shape[1] // 2
    return codes[:, :half] | (codes[:, half:] << 4)


def unpack_nibbles(packed: torch.Tensor) -> torch.Tensor:
    """``(n_blocks, half)`` uint8 -> ``(n_blocks, 2 * half)`` codes in 0..15 (uint8)."""
    return torch.cat([packed & 0x0F, packed >> 4], dim=1)
