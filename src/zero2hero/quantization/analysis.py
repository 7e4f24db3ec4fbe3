"""Quantization error: how far the dequantized values are from the originals, and why outliers hurt."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from zero2hero.errors import InputError
from zero2hero.quantization.checks import check_tensor
from zero2hero.quantization.int8 import absmax_dequantize, absmax_quantize


@dataclass(frozen=True)
class ErrorStats:
    mse: float
    max_abs_error: float
    relative_rmse: float  # RMS error / RMS of the original
    snr_db: float  # signal-to-noise ratio: 10 log10(signal power / error power)


def error_stats(original: torch.Tensor, restored: torch.Tensor) -> ErrorStats:
    """Error of ``restored`` (dequantized) against ``original``, both the same shape."""
    original, restored = check_tensor(original, "original"), check_tensor(restored, "restored")
    err = restored - original
    mse, power = float((err ** 2).mean()), float((original ** 2).mean())
    snr = float("inf") if mse == 0 else 10 * torch.log10(torch.tensor(power / mse)).item()
    return ErrorStats(mse, float(err.abs().max()), (mse / power) ** 0.5 if power else 0.0, snr)


def outlier_effect(n: int = 4096, outlier: float = 50.0, seed: int = 0) -> dict[str, float]:
    """MSE of per-tensor int8 absmax on ``n`` normal values, without and with one outlier of size
    ``outlier``, and with the outlier isolated in its own group of 64 (group-wise scales).

    The single large value sets the scale for everyone: the other values fall on few integer levels.
    """
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, generator=gen)
    with_outlier = x.clone()
    with_outlier[0] = outlier
    out = {}
    for name, values, gran in (("clean_tensor", x, "tensor"), ("outlier_tensor", with_outlier, "tensor"),
                               ("outlier_group64", with_outlier, "group")):
        q, scale = absmax_quantize(values, 8, gran, 64)
        restored = absmax_dequantize(q, scale)
        out[f"{name}_mse"] = float(((restored - values)[1:] ** 2).mean())  # error on the ordinary values
    return out


@torch.inference_mode()
def activation_outliers(model: nn.Module, ids: torch.Tensor) -> dict[str, float]:
    """Per kind of linear layer (the last part of its name: ``q_proj``, ``down_proj``, ``lm_head`` …), the
    largest ratio over the layers of that kind of max / median input-feature magnitude, on one forward
    pass over ``ids`` ``(1, seq)``.

    A feature's magnitude is its max |value| over the tokens. A ratio of 100 means one feature is 100× the
    typical one: a single int8 scale for the whole activation tensor (torch's dynamic int8) then leaves
    the typical features only a few of the 255 levels.
    """
    ratios: dict[str, float] = {}

    def record(name: str):
        def hook(_module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
            per_feature = inputs[0].detach().float().abs().reshape(-1, inputs[0].shape[-1]).amax(0)  # (in,)
            ratio = float(per_feature.max() / per_feature.median().clamp_min(1e-12))
            kind = name.rsplit(".", 1)[-1]
            ratios[kind] = max(ratios.get(kind, 0.0), ratio)
        return hook

    handles = [m.register_forward_pre_hook(record(name)) for name, m in model.named_modules()
               if isinstance(m, nn.Linear)]
    if not handles:
        raise InputError(f"{type(model).__name__} has no nn.Linear layers", "pass a model with linear layers")
    try:
        model(ids)
    finally:
        for handle in handles:
            handle.remove()
    return ratios
