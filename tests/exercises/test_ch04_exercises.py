"""Chapter 4 exercise checks: `z2h check 4` runs them on course/04-inference-quantization/exercises.py.

Oracles: torch's own quantizer (`torch.quantize_per_channel` / `quantize_per_tensor`), the `gguf`
package's reference Q4_0 encoder, transformers' language-model loss, and worked examples.
"""

from __future__ import annotations

import gguf
import numpy as np
import pytest
import torch
from gguf import quants as gq

from zero2hero.errors import InputError

CHAPTER = 4
REFERENCE = {
    "absmax_quantize": "zero2hero.quantization.int8",
    "zeropoint_quantize": "zero2hero.quantization.int8",
    "pack_nibbles": "zero2hero.quantization.pack",
    "quantize_q4_0": "zero2hero.quantization.ggml",
    "perplexity_from_logits": "zero2hero.quantization.evaluate",
}


def _w(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_absmax_worked_example(ex) -> None:
    q, scale = ex.absmax_quantize(torch.tensor([[1.0, -2.0, 0.5, 0.0]]), 8, "tensor")
    assert scale.shape == (1, 1) and float(scale) == pytest.approx(2 / 127)
    assert q.dtype == torch.int8 and q.tolist() == [[64, -127, 32, 0]]


def test_absmax_per_channel_matches_torch(ex) -> None:
    w = _w(12, 64)
    q, scale = ex.absmax_quantize(w, 8, "channel")
    assert scale.shape == (12, 1)
    ref = torch.quantize_per_channel(w, scale.squeeze(1).double(), torch.zeros(12, dtype=torch.long), 0, torch.qint8)
    assert torch.equal(q, ref.int_repr())
    torch.testing.assert_close(scale.squeeze(1), w.abs().amax(1) / 127)


def test_absmax_groups_and_4_bits(ex) -> None:
    w = _w(4, 64, seed=1)
    q, scale = ex.absmax_quantize(w, 4, "group", 16)
    assert scale.shape == (16, 1) and q.shape == w.shape
    assert int(q.abs().max()) == 7
    restored = (q.reshape(-1, 16).float() * scale).reshape(w.shape)
    assert (restored - w).abs().max() <= scale.max() / 2 + 1e-6
    with pytest.raises(InputError):
        ex.absmax_quantize(w, 8, "group", 48)
    with pytest.raises(InputError):
        ex.absmax_quantize(torch.tensor([1.0, float("nan")]), 8, "tensor")


def test_zeropoint_matches_torch(ex) -> None:
    x = torch.rand(500, generator=torch.Generator().manual_seed(2)) * 4 - 1
    q, scale, zero = ex.zeropoint_quantize(x, 8, "tensor")
    assert q.dtype == torch.uint8 and float(scale) == pytest.approx(float(x.max() - x.min()) / 255)
    ref = torch.quantize_per_tensor(x, float(scale), int(zero), torch.quint8)
    assert torch.equal(q, ref.int_repr())


def test_zeropoint_keeps_zero_exact_for_positive_data(ex) -> None:
    x = torch.tensor([[0.5, 1.0, 2.0, 3.0]])  # min > 0: the range is widened to include 0
    q, scale, zero = ex.zeropoint_quantize(x, 8, "tensor")
    assert int(zero) == 0 and float(scale) == pytest.approx(3 / 255) and int(q.max()) == 255


def test_pack_nibbles_ggml_order(ex) -> None:
    codes = torch.tensor([[1, 2, 3, 4, 15, 14, 13, 12]])
    assert ex.pack_nibbles(codes).tolist() == [[1 | 15 << 4, 2 | 14 << 4, 3 | 13 << 4, 4 | 12 << 4]]
    with pytest.raises(InputError):
        ex.pack_nibbles(torch.tensor([[16, 0]]))


def test_q4_0_bytes_equal_gguf(ex) -> None:
    w = _w(8, 128, seed=3) * 0.02
    w[0, :32] = 0
    ours = ex.quantize_q4_0(w)
    assert ours.dtype == torch.uint8 and ours.shape == (8, 72)
    assert np.array_equal(ours.numpy(), gq.quantize(w.numpy(), gguf.GGMLQuantizationType.Q4_0))


def test_perplexity_matches_transformers(ex, smollm2) -> None:
    model, tokenizer = smollm2
    ids = tokenizer("The quick brown fox jumps over the lazy dog.", return_tensors="pt").input_ids
    with torch.inference_mode():
        out = model(ids, labels=ids)
    assert ex.perplexity_from_logits(out.logits[0], ids[0]) == pytest.approx(float(torch.exp(out.loss)), rel=1e-5)


def test_perplexity_worked_example(ex) -> None:
    # Uniform predictions over 4 tokens: perplexity is exactly 4, whatever the targets.
    assert ex.perplexity_from_logits(torch.zeros(5, 4), torch.tensor([0, 1, 2, 3, 0])) == pytest.approx(4.0)
    logits = torch.tensor([[0.0, 10.0], [10.0, 0.0], [0.0, 0.0]])
    assert ex.perplexity_from_logits(logits, torch.tensor([0, 1, 0])) == pytest.approx(1.0, abs=1e-3)
