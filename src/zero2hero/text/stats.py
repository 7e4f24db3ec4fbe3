"""Corpus statistics: vocabulary size, type/token ratio, hapaxes, and Zipf's law."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from zero2hero.errors import InputError


@dataclass
class CorpusStats:
    tokens: int
    types: int  # vocabulary size: distinct tokens
    type_token_ratio: float  # types / tokens: falls as a text grows, so compare texts of equal length
    hapax_legomena: int  # types seen exactly once


def corpus_stats(tokens: Sequence[str]) -> CorpusStats:
    if not tokens:
        raise InputError("no tokens to count", "the text is empty after cleaning and tokenising")
    counts = Counter(tokens)
    return CorpusStats(len(tokens), len(counts), len(counts) / len(tokens), sum(c == 1 for c in counts.values()))


@dataclass
class ZipfFit:
    ranks: np.ndarray  # (types,) 1, 2, 3, ...
    frequencies: np.ndarray  # (types,) counts, descending
    slope: float  # of log(frequency) against log(rank), over the fitted ranks; Zipf's law predicts about -1
    intercept: float
    fitted_ranks: int  # the line is fitted to ranks 1..fitted_ranks


def zipf_fit(tokens: Sequence[str], max_rank: int = 1000) -> ZipfFit:
    """Rank-frequency data and a least-squares line in log-log space (Zipf: frequency ∝ 1 / rank).

    The line is fitted to the ``max_rank`` most frequent types: in any finite sample the tail of words
    seen once or twice falls off faster than the law, and its thousands of points would dominate the fit.
    """
    frequencies = np.array(sorted(Counter(tokens).values(), reverse=True), dtype=float)
    if len(frequencies) < 2:
        raise InputError("Zipf's law needs at least two distinct tokens", "use a longer text")
    ranks = np.arange(1, len(frequencies) + 1, dtype=float)
    head = min(max_rank, len(ranks))
    slope, intercept = np.polyfit(np.log(ranks[:head]), np.log(frequencies[:head]), 1)
    return ZipfFit(ranks, frequencies, float(slope), float(intercept), head)
