"""How sure a prompt's score is, and whether one prompt really beats another on the same items.

A score on 150 items moves by several points when other items are drawn, and two prompts scored on the same items
are compared item by item (paired), which sees a smaller difference than two separate intervals would: most items
are answered alike by both. The interval of the difference decides "significant"; the p-value comes from an exact
test that makes no normal approximation: McNemar's (a binomial test on the items where the two disagree) for 0/1
scores, a paired sign-flip permutation test for other scores.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest

from zero2hero.errors import InputError
from zero2hero.prompting.functional import bootstrap_interval


@dataclass(frozen=True)
class Interval:
    """The mean of n per-item scores and its bootstrap interval [low, high]."""

    mean: float
    low: float
    high: float
    n: int


@dataclass(frozen=True)
class PairedComparison:
    """Prompt B against prompt A on the same items."""

    a: Interval
    b: Interval
    difference: Interval  # of b - a, item by item: a paired bootstrap over the same items
    p_value: float  # exact McNemar for 0/1 scores, paired sign-flip permutation test otherwise
    significant: bool  # the difference's interval excludes 0
    verdict: str  # one line, e.g. "B better than A by +0.060 [+0.020, +0.100], p=0.004"


def _scores(values: Sequence[float], name: str) -> np.ndarray:
    scores = np.asarray(values, dtype=np.float64)
    if scores.ndim != 1 or scores.size == 0 or not np.isfinite(scores).all():
        raise InputError(f"the scores {name} are not a non-empty list of finite numbers (shape {scores.shape})",
                         "give one number per item, e.g. 1.0 for a right answer and 0.0 for a wrong one")
    return scores


def interval(values: Sequence[float], confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0) -> Interval:
    """The mean of ``values`` with its percentile bootstrap interval (:func:`~zero2hero.prompting.functional.
    bootstrap_interval`, which the tests compare with ``scipy.stats.bootstrap``)."""
    scores = _scores(values, "given")
    low, high = bootstrap_interval(scores, confidence, n_resamples, seed)
    return Interval(float(scores.mean()), low, high, int(scores.size))


def mcnemar_exact(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided exact McNemar p-value for paired 0/1 scores.

    Only the items where A and B disagree carry information: if neither prompt is better, each such item is as
    likely to favour B as A, so the number favouring B is Binomial(disagreements, 1/2).
    """
    a_scores, b_scores = _scores(a, "a"), _scores(b, "b")
    only_b = int(((a_scores == 0) & (b_scores == 1)).sum())
    only_a = int(((a_scores == 1) & (b_scores == 0)).sum())
    if only_a + only_b == 0:
        return 1.0
    return float(binomtest(only_b, only_a + only_b, 0.5).pvalue)


def sign_flip_p_value(differences: Sequence[float], n_resamples: int = 2000, seed: int = 0) -> float:
    """Two-sided p-value of a paired permutation test: is the mean of the per-item differences b - a far from 0?

    If A and B were interchangeable, each difference would be as likely with either sign. The p-value is the share of
    sign patterns whose mean is at least as far from 0 as the observed one: all 2^n patterns when 2^n ≤ n_resamples
    (exact), otherwise n_resamples random ones, counting the observed pattern too ((1 + hits) / (1 + n_resamples)).
    """
    d = _scores(differences, "differences")
    observed = abs(d.mean())
    tolerance = 1e-12 * max(1.0, observed)  # means equal up to rounding count as "at least as far"
    if 2 ** d.size <= n_resamples:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=d.size)))  # (2^n, n), all patterns
        return float((np.abs((signs * d).mean(axis=1)) >= observed - tolerance).mean())
    signs = np.random.default_rng(seed).choice((1.0, -1.0), size=(n_resamples, d.size))  # (n_resamples, n)
    hits = int((np.abs((signs * d).mean(axis=1)) >= observed - tolerance).sum())
    return (1 + hits) / (1 + n_resamples)


def _p_text(p_value: float) -> str:
    return "p<0.001" if p_value < 0.001 else f"p={p_value:.3f}"


def verdict(difference: Interval, p_value: float, names: tuple[str, str] = ("A", "B"),
            confidence: float = 0.95) -> str:
    """One line about B - A: which is better and by how much, or "not significant" when the interval holds 0."""
    a, b = names
    numbers = f"{difference.mean:+.3f} [{difference.low:+.3f}, {difference.high:+.3f}], {_p_text(p_value)}"
    if difference.low <= 0 <= difference.high:
        return f"{b} − {a} = {numbers}: not significant (the {confidence:.0%} interval includes 0)"
    better, worse = (b, a) if difference.mean > 0 else (a, b)
    line = f"{better} better than {worse}: {b} − {a} = {numbers}"
    if p_value >= 1 - confidence:  # the exact test and the bootstrap can disagree near the edge
        line += f" (borderline: the exact test gives {_p_text(p_value)})"
    return line


def compare_paired(a: Sequence[float], b: Sequence[float], confidence: float = 0.95, n_resamples: int = 2000,
                   seed: int = 0, names: tuple[str, str] = ("A", "B")) -> PairedComparison:
    """B against A on the same items: both intervals, the paired interval of b - a, an exact p-value and a verdict.

    ``a[i]`` and ``b[i]`` are the two prompts' scores on item i. The difference's interval resamples items (each
    resample keeps an item's two scores together), which is the bootstrap of the per-item differences.
    """
    a_scores, b_scores = _scores(a, "a"), _scores(b, "b")
    if a_scores.shape != b_scores.shape:
        raise InputError(f"a has {a_scores.size} scores and b has {b_scores.size}",
                         "a paired comparison scores both prompts on the same items, in the same order")
    differences = b_scores - a_scores
    binary = bool(np.isin(np.concatenate([a_scores, b_scores]), (0.0, 1.0)).all())
    p_value = mcnemar_exact(a_scores, b_scores) if binary else sign_flip_p_value(differences, n_resamples, seed)
    difference = interval(differences, confidence, n_resamples, seed)
    significant = not difference.low <= 0 <= difference.high
    return PairedComparison(a=interval(a_scores, confidence, n_resamples, seed),
                            b=interval(b_scores, confidence, n_resamples, seed), difference=difference,
                            p_value=p_value, significant=significant,
                            verdict=verdict(difference, p_value, names, confidence))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's adjusted p-values for several comparisons made at once (e.g. five prompts each against a baseline).

    With m comparisons, one of them looks significant at 5% by chance far more often than 5% of the time. Holm's
    step-down method: sort the p-values, multiply the k-th smallest (k = 0, 1, ...) by m - k, keep the running
    maximum so the order is preserved, cap at 1. Reject where the adjusted value is below the level.
    """
    p = np.asarray(p_values, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    scaled = p[order] * (p.size - np.arange(p.size))
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return adjusted.tolist()
