"""The size ladder: the parameter count from the sizes alone equals the built model's, and the recipe's rules."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from zero2hero.errors import UnknownNameError
from zero2hero.llama.model import Llama, LlamaConfig
from zero2hero.llama.scaling import family
from zero2hero.llama.scaling.train import next_token_loss


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


def test_learning_rate_is_the_tuned_one_up_to_width_64_then_falls_as_one_over_width() -> None:
    for size in family.LADDER:
        if size.width <= family.BASE_WIDTH:
            assert family.learning_rate(size) == family.BASE_LEARNING_RATE, size.name
        else:
            assert family.learning_rate(size) * size.width == pytest.approx(
                family.BASE_LEARNING_RATE * family.BASE_WIDTH), size.name
    assert family.learning_rate(family.size_named("s6")) == pytest.approx(family.BASE_LEARNING_RATE / 3)  # width 192
    assert family.warmup_steps(200) == 20 and family.warmup_steps(3) == 1


@pytest.mark.parametrize("name", ["s0", "s2", "s4"])
def test_training_flops_per_token_equal_what_torch_counts_in_a_training_step(name: str) -> None:
    """torch's FLOP counter sees every matrix product of a forward and backward pass, the output layer and the
    attention scores included; our formula must count the same, token for token."""
    context, batch = 48, 2
    cfg = family.llama_config(family.size_named(name), vocab_size=300, context=context)
    model = family.build_model(cfg, seed=0)
    windows = torch.randint(0, 300, (batch, context + 1), generator=torch.Generator().manual_seed(0))
    with FlopCounterMode(display=False) as counter:
        next_token_loss(model, windows).backward()
    assert family.training_flops_per_token(cfg, context) * batch * context == counter.get_total_flops()


def test_matmul_params_add_the_output_layer_and_drop_the_norm_scales() -> None:
    cfg = family.llama_config(family.size_named("s1"), vocab_size=2048, context=128)
    model = Llama(cfg)
    linear = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    assert family.matmul_params(cfg) == linear + model.output_weight().numel()
    assert family.matmul_params(cfg) > 3 * family.non_embedding_params(cfg)  # the output layer dominates s1


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
