"""Input validation shared by the quantizers: finite floating tensors, supported widths, dividing groups."""

from __future__ import annotations

import torch

from zero2hero.errors import InputError

SUPPORTED_BITS = (2, 3, 4, 8)


def check_tensor(x: torch.Tensor, name: str = "tensor") -> torch.Tensor:
    """``x`` as float32 after checking it is a non-empty floating tensor with only finite values."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise InputError(f"{name} must be a floating-point torch.Tensor, got {type(x).__name__}",
                         "convert it with torch.as_tensor(x, dtype=torch.float32)")
    if x.numel() == 0:
        raise InputError(f"{name} is empty", "quantize a tensor with at least one value")
    if not torch.isfinite(x).all():
        bad = int((~torch.isfinite(x)).sum())
        raise InputError(f"{name} holds {bad} NaN or infinite value(s)",
                         "find where they come from (a diverged training step?) before quantizing")
    return x.float()


def check_bits(bits: int) -> int:
    if bits not in SUPPORTED_BITS:
        raise InputError(f"unsupported bit width {bits}", f"use one of {SUPPORTED_BITS}")
    return bits


def check_group(x: torch.Tensor, group_size: int) -> None:
    """The last dimension of ``x`` must split into whole groups of ``group_size``."""
    if group_size <= 0 or x.shape[-1] % group_size:
        raise InputError(f"group size {group_size} does not divide the last dimension {x.shape[-1]}",
                         "pick a group size that divides it (32, 64 and 128 divide most model widths)")
