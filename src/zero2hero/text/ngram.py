"""N-grams: runs of n consecutive tokens, and their counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from zero2hero.errors import InputError


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    """All runs of ``n`` consecutive tokens, in order (``len(tokens) - n + 1`` of them, or none)."""
    if n < 1:
        raise InputError(f"n must be at least 1, got {n}", "use n=1 for words, 2 for bigrams, 3 for trigrams")
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def count_ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    """Count every n-gram of the token sequence.

    Returns a ``collections.Counter`` mapping each n-gram (a tuple of ``n`` tokens) to how often it occurs.
    N-grams never cross the ends of the sequence. ``n`` must be at least 1 (raise ``ValueError`` otherwise).

    >>> count_ngrams(["to", "be", "or", "not", "to", "be"], 2)[("to", "be")]
    2
    """
    return Counter(ngrams(tokens, n))


def top_ngrams(tokens: Sequence[str], n: int, k: int = 10) -> list[tuple[str, int]]:
    """The ``k`` most frequent n-grams as ("w1 w2 ...", count), ties in order of first appearance."""
    return [(" ".join(gram), count) for gram, count in count_ngrams(tokens, n).most_common(k)]
