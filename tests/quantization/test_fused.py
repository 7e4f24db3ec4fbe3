"""Fused weight-only layers: the kernel computes with exactly our quantized weights (up to its bfloat16
activations), stores far fewer bytes, and keeps SmolLM2's quality at 8 bits."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from zero2hero.corpus import heldout_text
from zero2hero.errors import InputError
from zero2hero.quantization.evaluate import perplexity
from zero2hero.quantization.fused import FusedLinear, fuse_model
from zero2hero.quantization.int8 import absmax_dequantize, absmax_quantize, zeropoint_dequantize, zeropoint_quantize
from zero2hero.transformer.generate import SamplingConfig, encode_prompt, generate


def _expected(linear: nn.Linear, fmt: str, x: torch.Tensor) -> torch.Tensor:
    """What the layer must compute: our dequantized weight applied to the bfloat16-rounded input."""
    w = linear.weight.detach()
    if fmt == "int8":
        weight = absmax_dequantize(*absmax_quantize(w, 8, "channel"))
    else:
        weight = zeropoint_dequantize(*zeropoint_quantize(w, 4, "group", 32))
    return torch.nn.functional.linear(x.bfloat16().float(), weight, linear.bias)


@pytest.mark.parametrize("fmt", ["int8", "int4_g32"])
def test_fused_layer_computes_with_our_quantized_weight(fmt: str) -> None:
    torch.manual_seed(0)
    linear, x = nn.Linear(256, 64), torch.randn(3, 5, 256)
    layer = FusedLinear(linear, fmt)
    out, expected = layer(x), _expected(linear, fmt, x)
    assert out.shape == (3, 5, 64) and out.dtype == torch.float32
    # The kernel rounds its output to bfloat16 (8 bits of mantissa): agreement to about 1 %.
    assert ((out - expected).norm() / expected.norm()).item() < 1e-2
    fp32_bytes = linear.weight.numel() * 4
    assert layer.storage_bytes() < fp32_bytes / (3.5 if fmt == "int8" else 6)


def test_fused_errors() -> None:
    with pytest.raises(InputError, match="unknown fused format"):
        FusedLinear(nn.Linear(64, 64), "int3")
    with pytest.raises(InputError, match="16 output rows"):
        FusedLinear(nn.Linear(64, 8), "int4_g32")
    with pytest.raises(InputError, match="does not divide"):
        FusedLinear(nn.Linear(40, 16), "int4_g32")
    with pytest.raises(InputError, match="no nn.Linear"):
        fuse_model(nn.Sequential(nn.ReLU()), "int8")


def test_fused_int8_keeps_smollm2_quality(smollm2) -> None:
    model, tokenizer = smollm2
    fused = fuse_model(copy.deepcopy(model), "int8")
    assert sum(isinstance(m, FusedLinear) for m in fused.modules()) == 7 * 30  # q k v o gate up down, 30 layers
    text = heldout_text(256 * 6)
    ours, reference = perplexity(fused, tokenizer, text, 256), perplexity(model, tokenizer, text, 256)
    assert ours == pytest.approx(reference, rel=0.02)
    new = generate(fused, encode_prompt(tokenizer, "The capital of France is"), SamplingConfig(3))
    assert tokenizer.decode(new).startswith(" Paris")
