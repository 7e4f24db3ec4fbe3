"""Quantising the trained sizes: fp32 is the reference, 8 bits cost less than 4, and every format keeps the shapes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from zero2hero.corpus import heldout_text, training_text
from zero2hero.errors import AssetMissingError, InputError
from zero2hero.llama.scaling import family
from zero2hero.llama.scaling.data import build_data, save_data, spread_sample
from zero2hero.llama.scaling.plan import ScalingPlan
from zero2hero.llama.scaling.quantize_sizes import (
    FORMATS,
    best_four_bit,
    fallback_share,
    quantization_figure,
    quantization_rows,
    quantize_sizes,
    quantized_copy,
    roundtrip,
)
from zero2hero.llama.scaling.run import run_plan

PLAN = ScalingPlan(sizes=("s1",), budgets=(8_192,), vocab_size=300, context=32, batch_size=4,
                   validation_tokens=2_048)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache holding s1 trained on 8,192 tokens of the course text (a 300-token BPE), with its kept weights."""
    root = tmp_path_factory.mktemp("scaling")
    save_data(root / "data", *build_data(spread_sample(training_text(), 200_000), heldout_text(20_000), 300, 100_000))
    run_plan(PLAN, root, progress=False)
    return root


def test_fp32_is_the_reference_and_eight_bits_cost_less_than_four(trained: Path) -> None:
    rows = quantize_sizes(PLAN, trained)
    assert [(row.size, row.format) for row in rows] == [("s1", fmt) for fmt in ("fp32", *FORMATS)]
    by_format = {row.format: row for row in rows}
    assert by_format["fp32"].increase_pct == 0.0
    assert abs(by_format["q8_0"].increase_pct) < by_format["q4_0"].increase_pct
    assert all(row.perplexity == pytest.approx(torch.tensor(row.loss).exp().item()) for row in rows)
    assert best_four_bit(rows, "s1").perplexity == min(by_format[f].perplexity for f in ("q4_0", "q4_1", "nf4", "q4_k"))


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_roundtrip_keeps_the_shape_and_stays_within_the_formats_step(fmt: str) -> None:
    weight = torch.randn(64, 96, generator=torch.Generator().manual_seed(0)) * 0.02
    decoded = roundtrip(weight, fmt)
    assert decoded.shape == weight.shape and decoded.dtype == torch.float32
    # a 4-bit code is off by at most half its widest step: max|x| / 8 for Q4_0 (whose top code is clamped), 0.152 ×
    # the block's max|x| for NF4's widest gap; 8 bits are 16 times finer
    bound = weight.abs().max().item() / (6 if fmt != "q8_0" else 127)
    assert (decoded - weight).abs().max().item() <= bound
    assert not torch.equal(decoded, weight)


def test_q4_k_falls_back_to_q5_0_for_a_tensor_256_does_not_divide() -> None:
    weight = torch.randn(24, 48, generator=torch.Generator().manual_seed(1)) * 0.02  # 1,152 values = 4.5 × 256
    five_bit = (roundtrip(weight, "q4_k") - weight).abs().max().item()
    four_bit = (roundtrip(weight, "q4_0") - weight).abs().max().item()
    assert five_bit < four_bit  # 32 levels per block, not 16
    cfg = family.llama_config(family.size_named("s2"), 2048, 128)  # key/value projections of 24 × 48
    assert 0 < fallback_share(family.build_model(cfg, 0)) < 0.1
    assert fallback_share(family.build_model(family.llama_config(family.size_named("s1"), 2048, 128), 0)) == 0


def test_a_quantized_copy_changes_every_matmul_weight_and_leaves_the_model_alone() -> None:
    model = family.build_model(family.llama_config(family.size_named("s1"), 300, 32), seed=0)
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    copy = quantized_copy(model, "q4_0")
    for name, tensor in copy.state_dict().items():
        assert torch.equal(model.state_dict()[name], before[name])
        assert torch.equal(tensor, before[name]) == (tensor.dim() == 1), name  # norm scales stay, matrices change


def test_an_unknown_format_or_missing_weights_are_refused_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="q4_k"):
        roundtrip(torch.ones(32), "q3_x")
    with pytest.raises(AssetMissingError, match="run_plan"):
        quantize_sizes(PLAN, tmp_path)


def test_the_figure_draws_one_line_per_format() -> None:
    model = family.build_model(family.llama_config(family.size_named("s1"), 300, 32), seed=0)
    validation = torch.randint(0, 300, (600,), generator=torch.Generator().manual_seed(0))
    rows = quantization_rows({"s1": model}, validation, 32, 256, formats=("q8_0", "q4_0"))
    labels = [text.get_text() for text in quantization_figure(rows).axes[0].get_legend().get_texts()]
    assert labels[:2] == ["q8_0", "q4_0"] and len(labels) == 3
