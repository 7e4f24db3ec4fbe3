"""Weight-only int8 and int4 linear layers that never rebuild a float weight: our quantization, PyTorch's
fused CPU kernels (``torch._weight_int8pack_mm``, ``torch._weight_int4pack_mm_for_cpu``, the kernels torchao
uses on CPUs). The kernel reads the small integer weights and multiplies in one pass, so fewer bytes per
weight become fewer bytes read per token — unlike :class:`~zero2hero.quantization.linear.QuantLinear`.

Activations stay in floating point (bfloat16 inside the kernel), which is why these paths keep the quality
of weight-only quantization where torch's dynamic int8, which quantizes activations too, loses it.
"""

from __future__ import annotations

import torch
from torch import nn

from zero2hero.errors import InputError
from zero2hero.quantization.int8 import absmax_quantize, zeropoint_quantize
from zero2hero.quantization.linear import replace_linears

# Format -> what it is (shown in tables).
FUSED_FORMATS = {
    "int8": "int8 absmax per output channel, fused weight-only kernel",
    "int4_g32": "4-bit zero-point per 32 inputs (the Q4_1 idea), fused weight-only kernel",
}
_INT4_GROUP = 32


class FusedLinear(nn.Module):
    """``y = x @ dequant(W).T + b`` computed by a fused kernel from the packed integer weight.

    ``x`` is cast to bfloat16 for the kernel and the result back to the dtype of ``x``.
    """

    def __init__(self, linear: nn.Linear, fmt: str) -> None:
        super().__init__()
        if fmt not in FUSED_FORMATS:
            raise InputError(f"unknown fused format {fmt!r}", f"use one of {sorted(FUSED_FORMATS)}")
        self.fmt, self.in_features, self.out_features = fmt, linear.in_features, linear.out_features
        weight = linear.weight.detach().float()  # (out, in)
        if fmt == "int8":
            q, scale = absmax_quantize(weight, 8, "channel")  # q (out, in) int8, scale (out, 1)
            self.register_buffer("q", q.contiguous())
            self.register_buffer("scales", scale.reshape(-1).to(torch.bfloat16))  # (out,)
        else:
            if self.out_features % 16:
                raise InputError(f"the int4 kernel packs 16 output rows together; {self.out_features} outputs do "
                                 "not split into them", "use fmt='int8' for this layer, or skip it")
            q, scale, zero = zeropoint_quantize(weight, 4, "group", _INT4_GROUP)  # scale, zero (out * in/32, 1)
            groups = self.in_features // _INT4_GROUP
            scale, zero = scale.reshape(self.out_features, groups), zero.reshape(self.out_features, groups).float()
            # The kernel computes (q - 8) * scale + offset; ours is (q - zero) * scale, so offset = (8 - zero) * scale.
            offset = (8 - zero) * scale
            scales_and_zeros = torch.stack([scale.T, offset.T], dim=-1)  # (in/32, out, 2)
            self.register_buffer("q", torch._convert_weight_to_int4pack_for_cpu(q.to(torch.int32), 1))
            self.register_buffer("scales", scales_and_zeros.to(torch.bfloat16).contiguous())
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().clone(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(..., in)`` -> ``(..., out)`` in the dtype of ``x``."""
        rows = x.reshape(-1, self.in_features).to(torch.bfloat16)  # (tokens, in)
        if self.fmt == "int8":
            y = torch._weight_int8pack_mm(rows, self.q, self.scales)
        else:
            y = torch._weight_int4pack_mm_for_cpu(rows, self.q, _INT4_GROUP, self.scales)
        y = y.to(x.dtype).reshape(*x.shape[:-1], self.out_features)
        return y if self.bias is None else y + self.bias.to(x.dtype)

    def storage_bytes(self) -> int:
        """Bytes of the packed weight and its scales, bias excluded."""
        return sum(t.numel() * t.element_size() for t in (self.q, self.scales))

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, fmt={self.fmt}"


def fuse_model(model: nn.Module, fmt: str, skip: tuple[str, ...] = ("lm_head",)) -> nn.Module:
    """Replace, in place, every ``nn.Linear`` whose name does not end with one of ``skip`` by a
    :class:`FusedLinear` in ``fmt``; returns ``model``."""
    if fmt not in FUSED_FORMATS:
        raise InputError(f"unknown fused format {fmt!r}", f"use one of {sorted(FUSED_FORMATS)}")
    return replace_linears(model, lambda linear: FusedLinear(linear, fmt), skip)
