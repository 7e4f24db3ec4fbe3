"""The size ladder: the parameter count from the sizes alone equals the built model's, and the recipe's rules."""

from __future__ import annotations

import pytest
import torch

from zero2hero.errors import UnknownNameError
from zero2hero.llama.model import Llama, LlamaConfig
from zero2hero.llama.scaling import family


def counted_without_embeddings(model: Llama) -> int:
    """Every parameter but the vocabulary matrices (the embedding table, and the output layer when untied)."""
    vocabulary = model.embed_tokens.weight.numel() + (model.lm_head.weight.numel() if model.lm_head else 0)
    return sum(p.numel() for p in model.parameters()) - vocabulary


@pytest.mark.parametrize("size", family.LADDER, ids=lambda size: size.name)
def test_non_embedding_params_equal_the_built_model_minus_its_embeddings(size: family.ModelSize) -> None:
    cfg = family.llama_config(size, vocab_size=300, context=64)
    assert family.non_embedding_params(cfg) == counted_without_embeddings(Llama(cfg))


def test_the_count_leaves_out_an_untied_output_layer_and_holds_for_other_head_shapes() -> None:
    cfg = LlamaConfig(vocab_size=100, hidden_size=40, intermediate_size=72, num_hidden_layers=3,
                      num_attention_heads=6, num_key_value_heads=2, head_dim=10, max_position_embeddings=32,
                      tie_word_embeddings=False)
    assert family.non_embedding_params(cfg) == counted_without_embeddings(Llama(cfg))


def test_the_ladder_spans_more_than_thirty_times_in_parameters_and_grows_at_every_rung() -> None:
    counts = [family.non_embedding_params(family.llama_config(size, 2048, 128)) for size in family.LADDER]
    assert len(counts) >= 6
    assert counts == sorted(counts) and len(set(counts)) == len(counts)
    assert counts[-1] / counts[0] >= 30


def test_learning_rate_falls_as_one_over_width_from_the_tuned_middle_size() -> None:
    products = {size.name: family.learning_rate(size) * size.width for size in family.LADDER}
    assert products == pytest.approx({name: family.BASE_LEARNING_RATE * family.BASE_WIDTH for name in products})
    assert family.learning_rate(family.size_named("s3")) == family.BASE_LEARNING_RATE  # width 64
    assert family.warmup_steps(200) == 20 and family.warmup_steps(3) == 1


def test_build_model_is_reproducible_and_scales_the_residual_outputs_down() -> None:
    cfg = family.llama_config(family.size_named("s3"), 300, 64)
    first, second = family.build_model(cfg, seed=1), family.build_model(cfg, seed=1)
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    q_std = first.layers[0].self_attn.q_proj.weight.std().item()
    o_std = first.layers[0].self_attn.o_proj.weight.std().item()
    assert q_std == pytest.approx(family.INIT_STD, rel=0.05)
    assert o_std == pytest.approx(family.INIT_STD / (2 * cfg.num_hidden_layers) ** 0.5, rel=0.05)


def test_an_unknown_size_names_the_known_ones() -> None:
    with pytest.raises(UnknownNameError, match="s1"):
        family.size_named("huge")
