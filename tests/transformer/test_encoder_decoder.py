"""The encoder–decoder example: encoder once, decoder cross-attending to it, generate, and a trained reversal."""

from __future__ import annotations

import pytest
import torch

from zero2hero.errors import InputError
from zero2hero.transformer.encoder_decoder import (
    EOS,
    PAD,
    ReversalConfig,
    cross_attention,
    greedy_decode,
    reversal_accuracy,
    reversal_batch,
    tiny_t5,
    train_reversal,
)

SMALL = ReversalConfig(d_model=32, n_layers=2, n_heads=4, length=5)


def test_reversal_batch_pairs_each_string_with_its_reverse() -> None:
    source, target = reversal_batch(3, 5, torch.Generator().manual_seed(0))
    assert source.shape == target.shape == (3, 6)
    assert torch.equal(target[:, :5], source[:, :5].flip(1))
    assert (source[:, -1] == EOS).all() and (source[:, :5] > EOS).all()


def test_cross_attention_has_one_row_per_output_and_one_column_per_input() -> None:
    model = tiny_t5(SMALL).eval()
    source, _ = reversal_batch(2, SMALL.length, torch.Generator().manual_seed(1))  # (2, 6)
    decoder_input = torch.full((2, 3), PAD)
    weights = cross_attention(model, source, decoder_input)
    assert len(weights) == SMALL.n_layers
    assert weights[0].shape == (2, SMALL.n_heads, 3, 6)  # (batch, heads, decoder positions, source positions)
    assert torch.allclose(weights[0].sum(-1), torch.ones(2, SMALL.n_heads, 3), atol=1e-5)


def test_the_encoder_reads_the_source_only_and_the_decoder_depends_on_it() -> None:
    model = tiny_t5(SMALL).eval()
    source, _ = reversal_batch(1, SMALL.length, torch.Generator().manual_seed(2))
    with torch.inference_mode():
        encoded = model.get_encoder()(input_ids=source).last_hidden_state
        assert encoded.shape == (1, SMALL.length + 1, SMALL.d_model)
        a = model(input_ids=source, decoder_input_ids=torch.tensor([[PAD]])).logits
        other = source.clone()
        other[0, 0] = source[0, 0] % 10 + 2 if source[0, 0] != 11 else 2
        b = model(input_ids=other, decoder_input_ids=torch.tensor([[PAD]])).logits
    assert not torch.allclose(a, b)  # the decoder's first step already reads the source through cross-attention


def test_our_greedy_loop_equals_generate() -> None:
    model, _ = train_reversal(ReversalConfig(d_model=32, n_layers=1, n_heads=4, length=4, steps=20, batch_size=16))
    source, _ = reversal_batch(4, 4, torch.Generator().manual_seed(3))
    ours = greedy_decode(model, source, max_new_tokens=5)
    theirs = model.generate(input_ids=source, max_new_tokens=5, do_sample=False)
    assert ours.shape[0] == 4 and ours.shape[1] <= 6 and torch.equal(ours, theirs)


def test_config_refuses_a_width_the_heads_cannot_split() -> None:
    with pytest.raises(InputError, match="n_heads"):
        ReversalConfig(d_model=30, n_heads=4)


@pytest.mark.heavy
def test_a_trained_model_reverses_unseen_strings() -> None:
    config = ReversalConfig()
    model, losses = train_reversal(config)
    assert losses[-1] < 0.2 * losses[0]
    assert reversal_accuracy(model, config) > 0.75
