"""Cutting plain text into training windows of token ids for a causal language model.

Two ways: :func:`consecutive_windows` tokenizes the whole text and cuts it into back-to-back windows (a learner's
own file, every token used once per epoch); :func:`sampled_windows` starts each window at a seeded random paragraph
and tokenizes only the text that window needs (a few windows from a book-sized text, in milliseconds).
"""

from __future__ import annotations

import re

import torch
from transformers import PreTrainedTokenizerBase

from zero2hero.errors import InputError

CHARS_PER_TOKEN_BOUND = 8  # English BPE averages ~4 characters a token: 8 leaves room to spare


def consecutive_windows(tokenizer: PreTrainedTokenizerBase, text: str, length: int) -> torch.Tensor:
    """The token ids of ``text`` cut into back-to-back windows of ``length`` ids: (n_windows, length); the last
    partial window is dropped. Raises :class:`InputError` when the text holds fewer than ``length`` tokens."""
    ids = tokenizer(text).input_ids
    if len(ids) < length:
        raise InputError(f"the training text holds {len(ids):,} tokens, fewer than one window of {length}",
                         "pass a longer text, or a smaller --max-length")
    n_windows = len(ids) // length
    return torch.tensor(ids[:n_windows * length]).reshape(n_windows, length)


def paragraph_starts(text: str) -> list[int]:
    """Offsets in ``text`` where a paragraph starts: the text's start and every line after a blank line."""
    return [0, *(match.end() for match in re.finditer(r"\n[ \t]*\n+(?=\S)", text))]


def sampled_windows(tokenizer: PreTrainedTokenizerBase, text: str, windows: int, length: int,
                    seed: int = 0) -> torch.Tensor:
    """``windows`` windows of ``length`` token ids (windows, length), each the start of a seeded random paragraph of
    ``text`` and what follows it. A start too near the end to fill a window is skipped."""
    starts = paragraph_starts(text)
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for index in torch.randint(len(starts), (windows * 4,), generator=generator).tolist():
        start = starts[index]
        ids = tokenizer(text[start:start + length * CHARS_PER_TOKEN_BOUND]).input_ids
        if len(ids) >= length:
            rows.append(ids[:length])
        if len(rows) == windows:
            return torch.tensor(rows)
    raise InputError(f"could not cut {windows} windows of {length} tokens from a text of {len(text):,} characters",
                     "ask for shorter or fewer windows, or give a longer text")
