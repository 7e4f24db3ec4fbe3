"""Our formats against independent references: gguf.quants (byte for byte), torch's own quantizer for
int8, QLoRA's construction of the NF4 levels."""

from __future__ import annotations

import gguf
import numpy as np
import pytest
import torch
from gguf import quants as gq

from zero2hero.errors import InputError
from zero2hero.quantization import (
    BITS_PER_WEIGHT,
    NF4_CODEBOOK,
    absmax_dequantize,
    absmax_quantize,
    dequantize_q4_0,
    dequantize_q4_1,
    dequantize_q8_0,
    error_stats,
    nf4_dequantize,
    nf4_quantize,
    outlier_effect,
    pack_nibbles,
    quantize_q4_0,
    quantize_q4_1,
    quantize_q8_0,
    unpack_nibbles,
    zeropoint_dequantize,
    zeropoint_quantize,
)

T = gguf.GGMLQuantizationType
FORMATS = [("q8_0", T.Q8_0, quantize_q8_0, dequantize_q8_0), ("q4_0", T.Q4_0, quantize_q4_0, dequantize_q4_0),
           ("q4_1", T.Q4_1, quantize_q4_1, dequantize_q4_1)]


def _weights() -> torch.Tensor:
    x = torch.randn(48, 256, generator=torch.Generator().manual_seed(0)) * 0.05
    x[3, 5] = 2.0  # an outlier
    x[7, :32] = 0.0  # an all-zero block
    x[9, 32:64] = -0.3  # a constant block
    x[11, 64:96] = torch.arange(32) * 0.5 - 8  # exact halves, where rounding rules differ
    return x


@pytest.mark.parametrize(("name", "qtype", "quantize", "dequantize"), FORMATS)
def test_ggml_bytes_equal_gguf_reference(name, qtype, quantize, dequantize) -> None:
    x = _weights()
    ours, ref = quantize(x).numpy(), gq.quantize(x.numpy(), qtype)
    assert ours.dtype == np.uint8 and ours.shape == ref.shape
    assert np.array_equal(ours, ref), f"{name}: {(ours != ref).sum()} bytes differ"
    np.testing.assert_array_equal(dequantize(torch.from_numpy(ref)).numpy(), gq.dequantize(ref, qtype))


def test_ggml_bits_per_weight_exact() -> None:
    assert BITS_PER_WEIGHT == {"q8_0": 8.5, "q4_0": 4.5, "q4_1": 5.0}
    for name, qtype, quantize, _ in FORMATS:
        assert quantize(torch.randn(2, 64)).numel() * 8 / 128 == BITS_PER_WEIGHT[name]
        assert gq.GGML_QUANT_SIZES[qtype] == (32, BITS_PER_WEIGHT[name] * 4)


def test_int8_per_channel_matches_torch_quantizer() -> None:
    w = torch.randn(16, 64, generator=torch.Generator().manual_seed(1))
    q, scale = absmax_quantize(w, 8, "channel")
    ref = torch.quantize_per_channel(w, scale.squeeze(1).double(), torch.zeros(16, dtype=torch.long), 0, torch.qint8)
    assert torch.equal(q, ref.int_repr())
    torch.testing.assert_close(absmax_dequantize(q, scale), ref.dequantize())
    assert int(q.abs().max()) == 127


def test_zeropoint_matches_torch_quantizer_per_tensor() -> None:
    x = torch.rand(1000, generator=torch.Generator().manual_seed(2)) * 3 - 0.5  # skewed range
    q, scale, zero = zeropoint_quantize(x, 8, "tensor")
    ref = torch.quantize_per_tensor(x, float(scale), int(zero), torch.quint8)
    assert torch.equal(q, ref.int_repr())
    torch.testing.assert_close(zeropoint_dequantize(q, scale, zero), ref.dequantize())
    # Asymmetric uses the range better than symmetric on skewed data.
    sym = absmax_dequantize(*absmax_quantize(x, 8, "tensor"))
    assert ((zeropoint_dequantize(q, scale, zero) - x) ** 2).mean() < ((sym - x) ** 2).mean()


def test_group_error_is_smaller_and_bits_bound_error() -> None:
    x = torch.randn(32, 256, generator=torch.Generator().manual_seed(3))
    mse = {g: error_stats(x, absmax_dequantize(*absmax_quantize(x, 4, g, 32))).mse
           for g in ("tensor", "channel", "group")}
    assert mse["group"] < mse["channel"] < mse["tensor"]
    q, scale = absmax_quantize(x, 8, "group", 32)
    assert error_stats(x, absmax_dequantize(q, scale)).max_abs_error <= float(scale.max()) / 2 + 1e-6


def test_nf4_levels_are_normal_quantiles() -> None:
    # QLoRA's construction: quantiles of N(0, 1) at evenly spaced probabilities, scaled to [-1, 1].
    normal, offset = torch.distributions.Normal(0.0, 1.0), 0.9677083
    pos = normal.icdf(torch.linspace(offset, 0.5, 9)[:-1])
    neg = -normal.icdf(torch.linspace(offset, 0.5, 8)[:-1])
    levels = torch.cat([pos, torch.zeros(1), neg]).sort().values
    torch.testing.assert_close(NF4_CODEBOOK, levels / levels.max(), atol=1e-4, rtol=0)


def test_nf4_round_trip_picks_nearest_level() -> None:
    x = torch.randn(4, 128, generator=torch.Generator().manual_seed(4))
    packed, absmax = nf4_quantize(x)
    restored = nf4_dequantize(packed, absmax, x.shape)
    blocks = x.reshape(-1, 64) / absmax
    nearest = NF4_CODEBOOK[(blocks[..., None] - NF4_CODEBOOK).abs().argmin(-1)] * absmax
    torch.testing.assert_close(restored, nearest.reshape(x.shape))
    assert packed.shape == (8, 32) and packed.dtype == torch.uint8


def test_pack_round_trip_and_ggml_nibble_order() -> None:
    codes = torch.arange(32).remainder(16).reshape(1, 32)
    packed = pack_nibbles(codes)
    assert packed.shape == (1, 16) and int(packed[0, 1]) == (1 | (1 << 4))  # value j low, value j+16 high
    assert torch.equal(unpack_nibbles(packed), codes.to(torch.uint8))


def test_outliers_hurt_per_tensor_scales() -> None:
    effect = outlier_effect()
    assert effect["outlier_tensor_mse"] > 20 * effect["clean_tensor_mse"]
    assert effect["outlier_group64_mse"] < effect["outlier_tensor_mse"] / 10


@pytest.mark.parametrize("bad", [torch.tensor([1.0, float("nan")]), torch.tensor([float("inf"), 1.0]),
                                 torch.tensor([], dtype=torch.float32), torch.tensor([1, 2])])
def test_bad_tensors_raise(bad) -> None:
    with pytest.raises(InputError):
        absmax_quantize(bad)


def test_bad_widths_and_groups_raise() -> None:
    with pytest.raises(InputError, match="bit width"):
        absmax_quantize(torch.randn(8, 8), bits=5)
    with pytest.raises(InputError, match="does not divide"):
        absmax_quantize(torch.randn(8, 48), 8, "group", 32)
    with pytest.raises(InputError, match="does not divide"):
        quantize_q4_0(torch.randn(4, 40))
    with pytest.raises(InputError, match="granularity"):
        absmax_quantize(torch.randn(4), 8, "row")
