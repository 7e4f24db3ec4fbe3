"""Chapter 2 exercises — fill in each function, then run `z2h check 2`.

Each function below has the signature and docstring of zero2hero's reference implementation; replace
the `raise NotImplementedError` with your code. You may use `torch` (but not `torch.nn.functional`'s
`one_hot`/`cosine_similarity`, which the checks use as the answer key).
"""

from __future__ import annotations

import torch


def apply_merge(parts: list[str], pair: tuple[str, str], merged: str | None = None) -> list[str]:
    """One BPE merge step: replace every adjacent occurrence of ``pair`` in ``parts``, scanning left to
    right without overlaps, by the merged symbol (``pair[0] + pair[1]`` unless ``merged`` is given).

    >>> apply_merge(["l", "o", "w", "e", "r"], ("l", "o"))
    ['lo', 'w', 'e', 'r']
    >>> apply_merge(["a", "a", "a"], ("a", "a"))
    ['aa', 'a']
    """
    raise NotImplementedError


def wordpiece_word(word: str, vocab: dict[str, int] | set[str], unk_token: str = "[UNK]",
                   max_chars: int = 100) -> list[str]:
    """Split one word into the longest vocabulary pieces, left to right ("##" marks a continuation).

    At each position take the longest substring in ``vocab`` (prefixed with "##" unless it starts the
    word). If some position has no match, or the word is longer than ``max_chars``, the whole word is
    ``[unk_token]``.

    >>> wordpiece_word("unaffable", {"un", "##aff", "##able", "##a"})
    ['un', '##aff', '##able']
    """
    raise NotImplementedError


def one_hot(ids: list[int] | torch.Tensor, vocab_size: int) -> torch.Tensor:
    """One-hot rows for a sequence of token ids.

    Returns a float32 tensor of shape ``(len(ids), vocab_size)`` with a single 1.0 per row, at the
    column given by the id; every other entry is 0.0. Ids must lie in ``[0, vocab_size)`` (raise
    ``ValueError`` otherwise).

    >>> one_hot([2, 0], 3).tolist()
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    raise NotImplementedError


def cosine_similarity(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity between every row of ``a`` and every row of ``b``.

    ``a`` has shape ``(n, d)`` and ``b`` shape ``(m, d)``; the result has shape ``(n, m)`` with
    ``result[i, j] = a[i]·b[j] / (|a[i]| |b[j]|)``, a number in [-1, 1]. A zero row gives 0 similarity
    (not NaN). Shapes that do not match raise ``ValueError``.
    """
    raise NotImplementedError


def mean_pooling(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average each sequence's token vectors over its real tokens, ignoring padding.

    ``hidden`` has shape (batch, seq, d) and ``attention_mask`` shape (batch, seq), 1 for a real token and
    0 for padding. Returns (batch, d): for each sequence, the mean of the rows of ``hidden`` whose mask is 1.
    """
    raise NotImplementedError
