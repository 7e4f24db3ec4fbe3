"""Chapter 3 exercises: attention, the causal mask, one KV-cache step, nucleus (top-p) filtering and the
repetition penalty.

Fill in each function, then run `z2h check 3`. Shapes are in the docstrings."""

from __future__ import annotations

import torch


def causal_mask(n_query: int, n_key: int, device: torch.device | None = None) -> torch.Tensor:
    """Boolean mask (n_query, n_key), True where query i may attend to key j.

    The queries are the *last* ``n_query`` positions of ``n_key`` (so a cached decode step with one query
    sees every key): query i sits at absolute position ``n_key - n_query + i`` and sees keys j <= that.
    """
    raise NotImplementedError


def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q kᵀ / √d) v.

    q: (..., n_query, d), k: (..., n_key, d), v: (..., n_key, d_v); mask broadcastable to
    (..., n_query, n_key), True = may attend. Returns (output (..., n_query, d_v), weights (..., n_query, n_key)).
    """
    raise NotImplementedError


def attend_with_cache(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                      cache: tuple[torch.Tensor, torch.Tensor] | None = None,
                      ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """One causal attention step with a KV cache: the new positions attend to every earlier one and to themselves.

    q, k, v: (batch, head, n_new, d_head) for the new positions; cache: keys and values of the n_past earlier
    positions, each (batch, head, n_past, d_head), or None. Returns (output (batch, head, n_new, d_head),
    weights (batch, head, n_new, n_past + n_new), the cache extended to n_past + n_new positions).
    """
    raise NotImplementedError


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filter on (vocab,): keep the smallest set of most likely tokens whose probability sum reaches p."""
    raise NotImplementedError


def apply_repetition_penalty(logits: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    """logits (vocab,), seen (n,) ids already in the text: positive logits / penalty, negative ones × penalty."""
    raise NotImplementedError
