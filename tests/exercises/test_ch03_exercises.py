"""Chapter 3 exercise checks: `z2h check 3` runs them on course/03-transformers/exercises.py.

Oracles: torch's own scaled_dot_product_attention, transformers' repetition-penalty processor,
and hand-worked examples.
"""

from __future__ import annotations

import torch

CHAPTER = 3
REFERENCE = {
    "causal_mask": "zero2hero.transformer.attention",
    "scaled_dot_product_attention": "zero2hero.transformer.attention",
    "attend_with_cache": "zero2hero.transformer.attention",
    "top_p_filter": "zero2hero.transformer.generate",
    "apply_repetition_penalty": "zero2hero.transformer.generate",
}


def test_causal_mask_square_and_cached(ex) -> None:
    assert ex.causal_mask(3, 3).tolist() == [[True, False, False], [True, True, False], [True, True, True]]
    assert ex.causal_mask(2, 4).tolist() == [[True, True, True, False], [True, True, True, True]]


def test_attention_matches_torch(ex) -> None:
    q, k, v = (torch.randn(2, 4, 6, 8, generator=torch.Generator().manual_seed(i)) for i in range(3))
    mask = torch.tril(torch.ones(6, 6, dtype=torch.bool))
    out, weights = ex.scaled_dot_product_attention(q, k, v, mask)
    assert torch.allclose(out, torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True), atol=1e-5)
    assert weights.shape == (2, 4, 6, 6) and torch.allclose(weights.sum(-1), torch.ones(2, 4, 6))
    out, _ = ex.scaled_dot_product_attention(q, k, v)
    assert torch.allclose(out, torch.nn.functional.scaled_dot_product_attention(q, k, v), atol=1e-5)


def test_cached_steps_equal_one_full_pass(ex) -> None:
    q, k, v = (torch.randn(1, 2, 6, 4, generator=torch.Generator().manual_seed(i)) for i in range(3))
    full = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)  # (1, 2, 6, 4)
    out, weights, cache = ex.attend_with_cache(q[:, :, :4], k[:, :, :4], v[:, :, :4])  # prefill: 4 positions
    assert torch.allclose(out, full[:, :, :4], atol=1e-5) and weights.shape == (1, 2, 4, 4)
    for t in (4, 5):  # then one token at a time, feeding only the new position and the cache
        out, weights, cache = ex.attend_with_cache(q[:, :, t:t + 1], k[:, :, t:t + 1], v[:, :, t:t + 1], cache)
        assert torch.allclose(out, full[:, :, t:t + 1], atol=1e-5), f"step at position {t} differs"
        assert weights.shape == (1, 2, 1, t + 1) and cache[0].shape == cache[1].shape == (1, 2, t + 1, 4)
    assert torch.equal(cache[0], k) and torch.equal(cache[1], v)


def test_top_p_hand_example(ex) -> None:
    logits = torch.log(torch.tensor([0.15, 0.5, 0.05, 0.3]))
    assert torch.isinf(ex.top_p_filter(logits, 0.8)).tolist() == [True, False, True, False]
    assert torch.isinf(ex.top_p_filter(logits, 0.9)).tolist() == [False, False, True, False]
    assert torch.isinf(ex.top_p_filter(logits, 1.0)).tolist() == [False, False, False, False]
    assert torch.isinf(ex.top_p_filter(logits, 0.01)).tolist() == [True, False, True, True]


def test_repetition_penalty_matches_transformers(ex) -> None:
    from transformers.generation.logits_process import RepetitionPenaltyLogitsProcessor

    logits = torch.randn(1, 30, generator=torch.Generator().manual_seed(3))
    seen = torch.tensor([[1, 4, 4, 9, 20]])
    ref = RepetitionPenaltyLogitsProcessor(1.5)(seen, logits.clone())[0]
    assert torch.allclose(ex.apply_repetition_penalty(logits[0], seen[0], 1.5), ref)
