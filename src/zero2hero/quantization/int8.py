"""Integer quantization from scratch: absmax (symmetric) and zero-point (asymmetric) at three granularities.

Granularity says which values share one scale: ``"tensor"`` (all of them), ``"channel"`` (one per row,
i.e. per output feature of a linear weight ``(out, in)``) or ``"group"`` (one per ``group_size``
consecutive values along the last dimension).
"""

from __future__ import annotations

import torch

from zero2hero.errors import InputError
from zero2hero.quantization.checks import check_bits, check_group, check_tensor

GRANULARITIES = ("tensor", "channel", "group")


def _grouped(x: torch.Tensor, granularity: str, group_size: int) -> torch.Tensor:
    """View ``x`` as ``(n_scales, values_per_scale)`` so every row shares one scale."""
    if granularity == "tensor":
        return x.reshape(1, -1)
    if granularity == "channel":
        return x.reshape(x.shape[0], -1) if x.dim() > 1 else x.reshape(1, -1)
    if granularity == "group":
        check_group(x, group_size)
        return x.reshape(-1, group_size)
    raise InputError(f"unknown granularity {granularity!r}", f"use one of {GRANULARITIES}")


def absmax_quantize(x: torch.Tensor, bits: int = 8, granularity: str = "channel",
                    group_size: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric quantization: ``q = round(x / scale)`` with ``scale = max|x| / (2**(bits-1) - 1)``.

    Returns ``(q, scale)``: ``q`` int8 with the shape of ``x`` in ``[-(2**(bits-1)-1), 2**(bits-1)-1]``,
    ``scale`` float32 of shape ``(n_scales, 1)`` (1 per tensor, per row, or per group).
    ``granularity``: ``"tensor"`` (one scale), ``"channel"`` (one per row ``x[i]``) or ``"group"``
    (one per ``group_size`` consecutive values of the last dimension, rows of ``x.reshape(-1, group_size)``).
    ``round`` is ``torch.round``; zero maps exactly to zero; a row of zeros gets scale 0 (and its ``q``
    is 0). Raise ``zero2hero.errors.InputError`` for NaN/inf values or a group size that does not divide.
    """
    x = check_tensor(x)
    qmax = 2 ** (check_bits(bits) - 1) - 1
    rows = _grouped(x, granularity, group_size)
    scale = rows.abs().amax(dim=1, keepdim=True) / qmax
    safe = torch.where(scale == 0, torch.ones_like(scale), scale)  # all-zero rows: avoid 0/0
    q = torch.round(rows / safe).clamp(-qmax, qmax).to(torch.int8)
    return q.reshape(x.shape), scale


def absmax_dequantize(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`absmax_quantize`: ``q * scale`` (float32, shape of ``q``)."""
    rows = q.reshape(scale.shape[0], -1).float()
    return (rows * scale).reshape(q.shape)


def zeropoint_quantize(x: torch.Tensor, bits: int = 8, granularity: str = "channel",
                       group_size: int = 128) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Asymmetric quantization onto ``[0, 2**bits - 1]``: ``q = round(x / scale) + zero``.

    ``scale = (max - min) / (2**bits - 1)`` and ``zero = round(-min / scale)``, so the whole range
    [min, max] is used even when it is not centred on 0 (e.g. after a ReLU). The range is first widened to
    include 0 (``min <= 0 <= max``) so that 0 is stored exactly; ``q`` is clamped to ``[0, 2**bits - 1]``.
    Granularity as in :func:`absmax_quantize`. Returns ``(q, scale, zero)``:
    ``q`` uint8 with the shape of ``x``; ``scale`` float32 and ``zero`` int32, both ``(n_scales, 1)``.
    """
    x = check_tensor(x)
    qmax = 2 ** check_bits(bits) - 1
    rows = _grouped(x, granularity, group_size)
    # The range always contains 0 so that 0 is exactly representable (padding, ReLU zeros).
    low, high = rows.amin(dim=1, keepdim=True).clamp(max=0), rows.amax(dim=1, keepdim=True).clamp(min=0)
    scale = (high - low) / qmax
    safe = torch.where(scale == 0, torch.ones_like(scale), scale)
    zero = torch.round(-low / safe).to(torch.int32)
    q = (torch.round(rows / safe) + zero).clamp(0, qmax).to(torch.uint8)
    return q.reshape(x.shape), scale, zero


def zeropoint_dequantize(q: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`zeropoint_quantize`: ``(q - zero) * scale`` (float32, shape of ``q``)."""
    rows = q.reshape(scale.shape[0], -1).float()
    return ((rows - zero) * scale).reshape(q.shape)
