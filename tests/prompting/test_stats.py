"""Intervals and paired comparisons: against scipy.stats.bootstrap and against p-values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from zero2hero.errors import InputError
from zero2hero.prompting.stats import compare_paired, holm, interval, mcnemar_exact, sign_flip_p_value

N_RESAMPLES = 20_000


@pytest.mark.parametrize("values", [[1.0] * 116 + [0.0] * 34,
                                    np.round(np.random.default_rng(5).exponential(2.0, 40), 3).tolist()])
def test_interval_agrees_with_scipy_bootstrap_within_its_monte_carlo_error(values: list[float]) -> None:
    ours = interval(values, 0.95, N_RESAMPLES, seed=1)
    theirs = scipy.stats.bootstrap((np.array(values),), np.mean, method="percentile", n_resamples=N_RESAMPLES,
                                   random_state=np.random.default_rng(2))
    # the Monte-Carlo error of a 2.5% quantile of B draws: sqrt(p(1 - p) / B) / density; the density from the spread
    # of the bootstrap distribution's quantiles around 2.5% (and 97.5%); 5 standard errors of a difference of two
    spread = np.quantile(theirs.bootstrap_distribution, [0.015, 0.035, 0.965, 0.985])
    error = math.sqrt(0.025 * 0.975 / N_RESAMPLES) * max(spread[1] - spread[0], spread[3] - spread[2]) / 0.02
    assert abs(ours.low - theirs.confidence_interval.low) < 5 * math.sqrt(2) * error
    assert abs(ours.high - theirs.confidence_interval.high) < 5 * math.sqrt(2) * error
    assert ours.mean == pytest.approx(np.mean(values)) and ours.n == len(values)


def test_interval_refuses_empty_and_non_finite_scores() -> None:
    for values in ([], [1.0, float("nan")]):
        with pytest.raises(InputError):
            interval(values)


def _pairs(only_a: int, only_b: int, both: int, neither: int) -> tuple[list[float], list[float]]:
    """Scores of A and B on items that only A gets right, only B, both, neither."""
    a = [1.0] * only_a + [0.0] * only_b + [1.0] * both + [0.0] * neither
    b = [0.0] * only_a + [1.0] * only_b + [1.0] * both + [0.0] * neither
    return a, b


def test_mcnemar_is_a_binomial_test_on_the_disagreements() -> None:
    # 1 item only A gets right, 6 only B: P(X <= 1 or X >= 6) for X ~ Binomial(7, 1/2) = 2 (1 + 7) / 2^7 = 0.125
    assert mcnemar_exact(*_pairs(1, 6, 50, 20)) == pytest.approx(0.125)
    # 8 against 0: 2 / 2^8
    assert mcnemar_exact(*_pairs(0, 8, 70, 22)) == pytest.approx(2 / 256)
    assert mcnemar_exact(*_pairs(0, 0, 10, 5)) == 1.0  # no disagreement: no evidence either way


def test_sign_flip_enumerates_every_pattern_when_there_are_few() -> None:
    # differences 1, 2, 3 (mean 2): of the 8 sign patterns only +++ and --- reach |mean| >= 2
    assert sign_flip_p_value([1.0, 2.0, 3.0]) == pytest.approx(2 / 8)
    # 1, -1: every pattern has |mean| 0 or 1 >= 0: p = 1
    assert sign_flip_p_value([1.0, -1.0]) == 1.0


def test_sign_flip_samples_patterns_when_there_are_many() -> None:
    # 20 positive differences: only the observed pattern (and its mirror, probability 2^-19) reach the mean
    assert sign_flip_p_value([0.5] * 20, n_resamples=2000) <= 2 / 2001
    # no effect at all: a large p-value
    differences = np.random.default_rng(0).normal(0.0, 1.0, 40)
    assert sign_flip_p_value(differences, n_resamples=2000) > 0.05


def test_compare_paired_sees_a_consistent_gain_on_the_same_items() -> None:
    a, b = _pairs(0, 8, 70, 22)  # B gets 8 more items right, loses none
    result = compare_paired(a, b, seed=0)
    assert result.difference.mean == pytest.approx(0.08)
    assert result.p_value == pytest.approx(2 / 256)
    assert result.significant and result.difference.low > 0
    assert result.verdict.startswith("B better than A: B − A = +0.080")
    assert "p=0.008" in result.verdict
    # the two separate intervals overlap, yet the paired difference is clear
    assert result.a.high > result.b.low


def test_compare_paired_says_not_significant_when_the_interval_holds_zero() -> None:
    a, b = _pairs(1, 6, 50, 20)
    result = compare_paired(a, b, seed=0)
    assert not result.significant and result.difference.low <= 0 <= result.difference.high
    assert "not significant" in result.verdict and "p=0.125" in result.verdict


def test_compare_paired_names_the_better_side_and_uses_the_sign_flip_test_for_other_scores() -> None:
    rng = np.random.default_rng(0)
    b = rng.uniform(0.0, 1.0, 60)
    a = b + 0.3 + rng.normal(0.0, 0.05, 60)  # A scores higher on every item
    result = compare_paired(a.tolist(), b.tolist(), names=("long prompt", "short prompt"))
    assert result.verdict.startswith("long prompt better than short prompt")
    assert result.p_value == pytest.approx(1 / 2001)  # no random sign pattern reaches the observed mean


def test_compare_paired_refuses_unpaired_scores() -> None:
    with pytest.raises(InputError, match="same items"):
        compare_paired([1.0, 0.0], [1.0])


def test_holm_adjusts_step_down_and_keeps_the_order() -> None:
    # sorted 0.01, 0.03, 0.04 times 3, 2, 1: 0.03, 0.06, 0.04 -> running maximum 0.03, 0.06, 0.06
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
