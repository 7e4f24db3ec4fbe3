"""A linear layer that stores its weight quantized (packed bytes) and dequantizes it on every forward,
and :func:`quantize_model`, which swaps a model's ``nn.Linear`` layers for it."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from zero2hero.errors import InputError
from zero2hero.quantization import ggml
from zero2hero.quantization.int8 import absmax_quantize, zeropoint_quantize
from zero2hero.quantization.kquant import dequantize_q4_k, quantize_q4_k
from zero2hero.quantization.nf4 import NF4_CODEBOOK, nf4_quantize
from zero2hero.quantization.pack import pack_nibbles, unpack_nibbles

# Format -> what it is (shown in tables).
FORMATS = {
    "int8": "int8 absmax, one fp32 scale per output channel",
    "q8_0": "GGML Q8_0: int8, fp16 scale per 32 (8.5 bits)",
    "q4_0": "GGML Q4_0: 4-bit, fp16 scale per 32 (4.5 bits)",
    "q4_1": "GGML Q4_1: 4-bit, fp16 scale + min per 32 (5.0 bits)",
    "int4_g128": "4-bit zero-point, fp16 scale + uint8 zero per 128",
    "nf4": "NF4 (normal quantiles), fp32 absmax per 64",
    "q4_k": "llama.cpp Q4_K: 4-bit, 6-bit scale + min per 32, fp16 units per 256 (4.5 bits)",
}


def _encode(weight: torch.Tensor, fmt: str) -> dict[str, torch.Tensor]:
    """The buffers that store ``weight`` ``(out, in)`` in ``fmt``."""
    if fmt == "int8":
        q, scale = absmax_quantize(weight, 8, "channel")
        return {"q": q, "scale": scale}
    if fmt in ("q8_0", "q4_0", "q4_1"):
        return {"q": getattr(ggml, f"quantize_{fmt}")(weight)}
    if fmt == "int4_g128":
        # Groups run along the flattened row-major weight, so rows whose width 128 does not divide
        # (576 in SmolLM2) still work: some groups straddle two rows.
        q, scale, zero = zeropoint_quantize(weight.reshape(1, -1), 4, "group", 128)
        return {"q": pack_nibbles(q.reshape(-1, 128)), "scale": scale.half(), "zero": zero.to(torch.uint8)}
    if fmt == "nf4":
        packed, absmax = nf4_quantize(weight.reshape(1, -1), 64)
        return {"q": packed, "scale": absmax}
    if fmt == "q4_k":  # flattened like nf4: super-blocks of 256 may straddle two rows of 576
        return {"q": quantize_q4_k(weight.reshape(1, -1))}
    raise InputError(f"unknown quantization format {fmt!r}", f"use one of {sorted(FORMATS)}")


def _decode(buffers: dict[str, torch.Tensor], fmt: str, shape: torch.Size) -> torch.Tensor:
    """Float32 weight of ``shape`` back from the buffers of :func:`_encode`."""
    q = buffers["q"]
    if fmt == "int8":
        return q.float() * buffers["scale"]
    if fmt in ("q8_0", "q4_0", "q4_1"):
        return getattr(ggml, f"dequantize_{fmt}")(q).reshape(shape)
    if fmt == "int4_g128":
        codes = unpack_nibbles(q).float()
        return ((codes - buffers["zero"].float()) * buffers["scale"].float()).reshape(shape)
    if fmt == "q4_k":
        return dequantize_q4_k(q).reshape(shape)
    return (NF4_CODEBOOK[unpack_nibbles(q).long()] * buffers["scale"]).reshape(shape)


class QuantLinear(nn.Module):
    """``y = x @ dequant(W).T + b`` with W kept quantized.

    With ``cache=False`` the weight is rebuilt on every call: memory stays small but each forward pays
    for unpacking and scaling all ``out * in`` values in eager PyTorch, so it is slower than fp32. With
    ``cache=True`` the dequantized copy is kept: as fast as fp32, and no memory is saved.
    """

    def __init__(self, linear: nn.Linear, fmt: str, cache: bool = False) -> None:
        super().__init__()
        self.fmt, self.shape, self.cache = fmt, linear.weight.shape, cache
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self._names = []
        for name, tensor in _encode(linear.weight.detach(), fmt).items():
            self.register_buffer(name, tensor)
            self._names.append(name)
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().clone(), requires_grad=False)
        self._cached = self.dequantized() if cache else None

    def dequantized(self) -> torch.Tensor:
        """The float32 weight ``(out, in)`` this layer computes with."""
        return _decode({n: getattr(self, n) for n in self._names}, self.fmt, self.shape)

    def storage_bytes(self) -> int:
        """Bytes of the quantized weight (packed values + scales), bias excluded."""
        return sum(getattr(self, n).numel() * getattr(self, n).element_size() for n in self._names)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(..., in)`` -> ``(..., out)`` in the dtype of ``x``."""
        weight = self._cached if self._cached is not None else self.dequantized()
        return F.linear(x, weight.to(x.dtype), None if self.bias is None else self.bias.to(x.dtype))

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, fmt={self.fmt}, cache={self.cache}"


def replace_linears(model: nn.Module, make: Callable[[nn.Linear], nn.Module], skip: tuple[str, ...] = ("lm_head",),
                    progress: Callable[[str], None] | None = None) -> nn.Module:
    """Replace, in place, every ``nn.Linear`` of ``model`` whose name does not end with one of ``skip`` by
    ``make(linear)``; returns ``model``."""
    targets = [(name, module) for name, module in model.named_modules()
               if isinstance(module, nn.Linear) and not name.endswith(skip)]
    if not targets:
        raise InputError(f"{type(model).__name__} has no nn.Linear layers to quantize (skipping {skip})",
                         "quantization here replaces linear layers; pass a transformer or an nn.Sequential of them")
    for name, module in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, make(module))
        if progress:
            progress(name)
    return model


def quantize_model(model: nn.Module, fmt: str, skip: tuple[str, ...] = ("lm_head",), cache: bool = False,
                   progress: Callable[[str], None] | None = None) -> nn.Module:
    """Replace, in place, every ``nn.Linear`` whose name does not end with one of ``skip`` by a
    :class:`QuantLinear` in ``fmt``; returns ``model``.

    ``lm_head`` is skipped by default: in SmolLM2 it shares its weight with the token embedding, so
    quantizing it would store a second copy instead of saving memory.
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown quantization format {fmt!r}", f"use one of {sorted(FORMATS)}")
    return replace_linears(model, lambda linear: QuantLinear(linear, fmt, cache), skip, progress)
