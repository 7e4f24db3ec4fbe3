"""Cosine similarity and nearest neighbours between embedding vectors."""

from __future__ import annotations

import torch

from zero2hero.errors import InputError


def cosine_similarity(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity between every row of ``a`` and every row of ``b``.

    ``a`` has shape ``(n, d)`` and ``b`` shape ``(m, d)``; the result has shape ``(n, m)`` with
    ``result[i, j] = a[i]·b[j] / (|a[i]| |b[j]|)``, a number in [-1, 1]. A zero row gives 0 similarity
    (not NaN). Shapes that do not match raise ``ValueError``.
    """
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[1]:
        raise InputError(f"cosine_similarity needs (n, d) and (m, d) matrices, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}", "reshape to 2-D with the same last dimension")
    a_unit = a / a.norm(dim=1, keepdim=True).clamp_min(1e-12)
    b_unit = b / b.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return a_unit @ b_unit.T


def nearest_neighbours(queries: torch.Tensor, keys: torch.Tensor, k: int = 5,
                       exclude_self: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """For each query row, the ``k`` key rows of highest cosine similarity: (scores, indices), each
    ``(n_queries, k)``. With ``exclude_self`` (queries are the keys) a row is not its own neighbour."""
    scores = cosine_similarity(queries, keys)
    if exclude_self:
        scores.fill_diagonal_(-float("inf"))
    return scores.topk(min(k, keys.shape[0] - int(exclude_self)), dim=1)
