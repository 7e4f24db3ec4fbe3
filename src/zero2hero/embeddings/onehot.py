"""One-hot encodings: one dimension per vocabulary entry, a single 1 per token."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from zero2hero.errors import InputError


def one_hot(ids: list[int] | torch.Tensor, vocab_size: int) -> torch.Tensor:
    """One-hot rows for a sequence of token ids.

    Returns a float32 tensor of shape ``(len(ids), vocab_size)`` with a single 1.0 per row, at the
    column given by the id; every other entry is 0.0. Ids must lie in ``[0, vocab_size)`` (raise
    ``ValueError`` otherwise).

    >>> one_hot([2, 0], 3).tolist()
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    ids = torch.as_tensor(ids, dtype=torch.long)
    if ids.numel() and (ids.min() < 0 or ids.max() >= vocab_size):
        raise InputError(f"ids must be in [0, {vocab_size}), got {ids.min().item()}..{ids.max().item()}",
                         "check the vocabulary size")
    rows = torch.zeros(len(ids), vocab_size, dtype=torch.float32)
    rows[torch.arange(len(ids)), ids] = 1.0
    return rows


@dataclass
class OneHotCost:
    vocab_size: int
    dense_dim: int
    one_hot_bytes_per_token: int  # float32 one-hot row
    dense_bytes_per_token: int  # float32 embedding row
    one_hot_sparsity: float  # share of zeros in a one-hot row
    distinct_pair_cosine: float  # cosine between two different one-hot rows: always 0


def one_hot_vs_dense(vocab_size: int, dense_dim: int) -> OneHotCost:
    """What one token costs as a one-hot row vs a dense embedding row (float32 both)."""
    a, b = one_hot([0, 1], vocab_size)
    cosine = float(a @ b / (a.norm() * b.norm()))
    return OneHotCost(vocab_size, dense_dim, 4 * vocab_size, 4 * dense_dim, 1 - 1 / vocab_size, cosine)
