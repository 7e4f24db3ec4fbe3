"""Scaled dot-product attention, the causal mask and multi-head self-attention (causal with a KV cache, or
bidirectional as in an encoder)."""

from __future__ import annotations

import math

import torch
from torch import nn

from zero2hero.errors import InputError


def causal_mask(n_query: int, n_key: int, device: torch.device | None = None) -> torch.Tensor:
    """Boolean mask (n_query, n_key), True where query i may attend to key j.

    The queries are the *last* ``n_query`` positions of ``n_key`` (so a cached decode step with one query
    sees every key): query i sits at absolute position ``n_key - n_query + i`` and sees keys j <= that.
    """
    if n_query > n_key:
        raise InputError(f"{n_query} queries but only {n_key} keys", "queries are a suffix of the keys")
    offset = n_key - n_query
    rows = torch.arange(n_query, device=device)[:, None] + offset  # (n_query, 1) absolute positions
    cols = torch.arange(n_key, device=device)[None, :]  # (1, n_key)
    return cols <= rows


def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q kᵀ / √d) v.

    q: (..., n_query, d), k: (..., n_key, d), v: (..., n_key, d_v); mask broadcastable to
    (..., n_query, n_key), True = may attend. Returns (output (..., n_query, d_v), weights (..., n_query, n_key)).
    """
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise InputError(f"shapes do not fit: q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}",
                         "q and k need the same last dimension, k and v the same number of positions")
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., n_query, n_key)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))  # a -inf score gets weight exactly 0
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def attend_with_cache(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                      cache: tuple[torch.Tensor, torch.Tensor] | None = None,
                      ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """One causal attention step with a KV cache: the new positions attend to every earlier one and to themselves.

    q, k, v: (batch, head, n_new, d_head) for the new positions; cache: keys and values of the n_past earlier
    positions, each (batch, head, n_past, d_head), or None. Returns (output (batch, head, n_new, d_head),
    weights (batch, head, n_new, n_past + n_new), the cache extended to n_past + n_new positions).
    """
    if cache is not None:
        k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)  # (b, head, n_past + n_new, d_head)
    out, weights = scaled_dot_product_attention(q, k, v, causal_mask(q.shape[2], k.shape[2], q.device))
    return out, weights, (k, v)


class MultiHeadAttention(nn.Module):
    """Multi-head self-attention, GPT-2 layout: one fused q|k|v projection, then an output projection.

    ``causal=True`` (a decoder) lets position i see positions <= i; ``causal=False`` (an encoder, BERT-style)
    lets every position see the whole sequence.
    """

    def __init__(self, d_model: int, n_head: int, causal: bool = True) -> None:
        super().__init__()
        if d_model % n_head:
            raise InputError(f"d_model {d_model} is not divisible by n_head {n_head}", "pick n_head dividing d_model")
        self.n_head, self.d_head, self.causal = n_head, d_model // n_head, causal
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.last_weights: torch.Tensor | None = None  # (batch, head, n_query, n_key), kept when asked

    def forward(self, x: torch.Tensor, cache: tuple[torch.Tensor, torch.Tensor] | None = None,
                keep_weights: bool = False) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """x: (batch, n_new, d_model); cache: keys and values of earlier positions, each (batch, head, n_past, d_head).

        Returns (output (batch, n_new, d_model), updated cache with n_past + n_new positions).
        """
        if cache is not None and not self.causal:
            # Bidirectionally, earlier positions' keys and values depend on every later token: they cannot be kept.
            raise InputError("a KV cache needs causal attention", "run a bidirectional model on the whole sequence")
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=-1)  # each (b, t, d)
        # (b, t, d) -> (b, head, t, d_head): every head attends independently on its own slice.
        q, k, v = (z.view(b, t, self.n_head, self.d_head).transpose(1, 2) for z in (q, k, v))
        if self.causal:
            out, weights, cache = attend_with_cache(q, k, v, cache)  # out (b, head, t, d_head)
        else:
            out, weights = scaled_dot_product_attention(q, k, v)  # no mask: every key is visible
            cache = (k, v)
        self.last_weights = weights if keep_weights else None
        out = out.transpose(1, 2).reshape(b, t, d)  # heads side by side again
        return self.proj(out), cache


def multi_head_attention(x: torch.Tensor, attn: MultiHeadAttention) -> torch.Tensor:
    """Causal multi-head self-attention of ``x`` (batch, t, d_model) with the weights of ``attn``.

    ``attn.qkv`` is an ``nn.Linear(d_model, 3 * d_model)`` whose output holds q, k and v side by side (in that
    order, ``d_model`` columns each); ``attn.n_head`` heads each get ``d_head = d_model // n_head`` consecutive
    columns of q, k and v. Each head computes softmax(q kᵀ / √d_head) v with the causal mask (position i sees
    positions <= i); the heads' outputs are put side by side again (batch, t, d_model) and go through
    ``attn.proj`` (an ``nn.Linear(d_model, d_model)``). Returns (batch, t, d_model).
    """
    return attn(x)[0]
