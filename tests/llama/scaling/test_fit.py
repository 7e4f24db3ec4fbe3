"""The fits recover laws we generate here from stated constants (an oracle independent of the fitting code)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from zero2hero.errors import InputError
from zero2hero.llama.scaling.fit import (
    PUBLISHED,
    bootstrap_frontier,
    bootstrap_joint,
    bootstrap_power_law,
    compute_budgets,
    fit_joint,
    fit_power_law,
    isoflop_profile,
    isoflop_profiles,
    joint_data,
)
from zero2hero.llama.scaling.points import Point

TRUE_E, TRUE_A, TRUE_ALPHA = 2.0, 40.0, 0.35
PARAMS = np.geomspace(2e4, 2e6, 8)


def law(n: np.ndarray) -> np.ndarray:
    return TRUE_E + TRUE_A * n ** -TRUE_ALPHA


def noisy(values: np.ndarray, relative_noise: float, seed: int) -> np.ndarray:
    return values * np.exp(np.random.default_rng(seed).normal(0.0, relative_noise, values.shape))


def test_an_exact_power_law_is_recovered_to_four_decimals() -> None:
    fitted = fit_power_law(PARAMS, law(PARAMS))
    assert fitted.exponent == pytest.approx(TRUE_ALPHA, abs=1e-4)
    assert fitted.e == pytest.approx(TRUE_E, abs=1e-3)
    assert fitted.a == pytest.approx(TRUE_A, rel=1e-3)


def test_a_noisy_power_law_is_recovered_within_tolerance() -> None:
    n = np.geomspace(2e4, 2e6, 12)
    fitted = fit_power_law(n, noisy(law(n), 0.002, seed=3))  # 0.2 % noise, about 0.005 nats
    assert fitted.exponent == pytest.approx(TRUE_ALPHA, abs=0.05)
    assert fitted.e == pytest.approx(TRUE_E, abs=0.15)


def test_a_pure_power_law_fits_with_e_near_zero() -> None:
    fitted = fit_power_law(PARAMS, 30.0 * PARAMS ** -0.2)
    assert fitted.exponent == pytest.approx(0.2, abs=1e-3)
    assert fitted.e == pytest.approx(0.0, abs=1e-2)


def test_the_bootstrap_interval_contains_the_true_exponent_for_most_noise_draws() -> None:
    """90 % intervals: over 10 independent noisy data sets, the true α falls inside at least 7 times (a small-sample
    bootstrap covers a little less than its nominal level), and the intervals are not absurdly wide."""
    inside, widths = 0, []
    for seed in range(10):
        fit = bootstrap_power_law(PARAMS, noisy(law(PARAMS), 0.003, seed), resamples=60, seed=seed)
        inside += TRUE_ALPHA in fit.exponent
        widths.append(fit.exponent.high - fit.exponent.low)
    assert inside >= 7
    assert np.median(widths) < 0.5


def test_the_band_brackets_the_fitted_curve_and_widens_outside_the_data() -> None:
    fit = bootstrap_power_law(PARAMS, noisy(law(PARAMS), 0.003, 0), resamples=60)
    grid = np.array([2e3, 2e5, 2e7])
    low, high = fit.band(grid)
    assert np.all(low <= high)
    assert (high - low)[1] < (high - low)[0] and (high - low)[1] < (high - low)[2]


def test_with_e_fixed_at_zero_two_points_give_the_line_through_them() -> None:
    fitted = fit_power_law([1e4, 1e5], [3.0, 2.5], free_e=False)
    assert fitted.e == 0.0 and fitted.exponent == pytest.approx(np.log10(3.0 / 2.5))
    assert fitted(1e4) == pytest.approx(3.0) and fitted(1e5) == pytest.approx(2.5)


def test_too_few_points_are_refused_with_a_hint() -> None:
    with pytest.raises(InputError, match="at least 3"):
        fit_power_law([1e4, 1e5], [3.0, 2.5])


# ---- IsoFLOP ------------------------------------------------------------------------------------------------------
# A Chinchilla-form law L(N, D) = E + A/N^α + B/D^β has a known optimum at compute C = 6ND: with α = β, N* = G·√(C/6)
# and D* = √(C/6)/G where G = (A/B)^(1/(α+β)), so D*/N* = 1/G² at every C. A/B is chosen for 20 tokens per parameter.
ALPHA = BETA = 0.3
B_COEF = 400.0
A_COEF = B_COEF * (1 / 20) ** ((ALPHA + BETA) / 2)  # G² = 1/20


def chinchilla_loss(n: np.ndarray | float, d: np.ndarray | float) -> np.ndarray | float:
    return 1.8 + A_COEF / n ** ALPHA + B_COEF / d ** BETA


def chinchilla_points(sizes: np.ndarray, budgets: np.ndarray, extra_flops_per_token: int = 0) -> list[Point]:
    """Points on the law; each costs ``6·N + extra_flops_per_token`` FLOPs per token."""
    return [Point(size=f"n{int(n)}", non_embedding_params=int(n), total_params=int(n),
                  flops_per_token=6 * int(n) + extra_flops_per_token, tokens=int(d), steps=1,
                  loss=float(chinchilla_loss(n, d)), train_seconds=1.0, learning_rate=1e-3, warmup_steps=1,
                  world_size=1, config={})
            for n in sizes for d in budgets]


def test_the_isoflop_picker_finds_the_known_compute_optimum() -> None:
    points = chinchilla_points(np.geomspace(1e4, 1e6, 11), np.geomspace(1e5, 1e8, 16))
    optima = np.array([5e4, 1e5, 2e5])  # well inside the sizes and their budgets
    profiles = isoflop_profiles(points, 6 * 20 * optima ** 2)
    assert len(profiles) == 3
    for profile in profiles:
        assert profile.vertex_inside
        assert profile.tokens_per_param == pytest.approx(20.0, rel=0.15)
        assert profile.optimal_params == pytest.approx(np.sqrt(profile.compute / 6 / 20), rel=0.1)


def test_the_frontier_interval_contains_the_known_ratio() -> None:
    points = chinchilla_points(np.geomspace(1e4, 1e6, 7), np.geomspace(1e5, 1e8, 8))
    frontier = bootstrap_frontier(points, resamples=40)
    assert frontier is not None and frontier.resamples_used > 10
    assert frontier.tokens_per_param == pytest.approx(20.0, rel=0.2)
    assert frontier.interval.low <= 20.0 * 1.2 and frontier.interval.high >= 20.0 / 1.2


def test_a_minimum_outside_the_sizes_is_flagged_and_the_best_size_taken() -> None:
    points = chinchilla_points(np.array([1e4, 2e4, 4e4]), np.geomspace(1e5, 1e9, 8))
    compute = 5e13  # its optimum is N* = √(C / 120) ≈ 6.5e5, far above the largest size
    profile = isoflop_profile(points, compute)
    assert profile is not None and not profile.vertex_inside
    assert profile.optimal_params == 4e4  # the loss still falls at the largest size


def test_the_optimal_tokens_divide_the_compute_by_the_flops_per_token_of_the_optimal_size() -> None:
    """Each token costs 6·N + 600,000 FLOPs here (as attention and the output layer add to 6·N): D* must be C over
    that cost, not C / 6N, and the profile's sizes must reach C at D = C / (6·N + 600,000)."""
    points = chinchilla_points(np.array([1e4, 2e4, 4e4]), np.geomspace(1e5, 1e9, 8), extra_flops_per_token=600_000)
    profile = isoflop_profile(points, 5e13)
    assert profile is not None and profile.optimal_params == 4e4
    assert profile.optimal_tokens == pytest.approx(5e13 / (6 * 4e4 + 600_000))
    expected = [chinchilla_loss(n, 5e13 / (6 * n + 600_000)) for n in (1e4, 2e4, 4e4)]
    assert profile.losses == pytest.approx(expected, rel=0.02)  # interpolated between budgets 2.7× apart


def test_sizes_far_from_the_optimum_do_not_pull_the_parabola() -> None:
    """Beyond N = 400,000 the loss rises steeply (as a model stopped after a few steps does): the optimum near 1e5
    must stay where it was. A parabola through the whole profile would put it at about 81,000."""
    points = chinchilla_points(np.geomspace(1e4, 1e6, 11), np.geomspace(1e5, 1e8, 16))
    steep = [dataclasses.replace(p, loss=p.loss + 3 * max(0.0, np.log(p.total_params / 4e5)) ** 2) for p in points]
    compute = 6 * 20 * 1e5 ** 2
    smooth, pulled = isoflop_profile(points, compute), isoflop_profile(steep, compute)
    assert pulled.vertex_inside and pulled.optimal_params == pytest.approx(smooth.optimal_params, rel=1e-6)
    assert pulled.optimal_params == pytest.approx(1e5, rel=0.1)
    assert pulled.parabola()[1][1] < 4e5  # the parabola never saw the steep sizes


def test_replicas_of_a_point_count_once_with_their_mean_loss() -> None:
    points = chinchilla_points(np.geomspace(1e4, 1e6, 7), np.geomspace(1e5, 1e8, 8))
    again = [dataclasses.replace(p, loss=p.loss + 0.2, replica=1) for p in points]
    compute = 6 * 20 * 1e5 ** 2
    alone, with_replicas = isoflop_profile(points, compute), isoflop_profile(points + again, compute)
    assert with_replicas.params == alone.params
    assert np.array(with_replicas.losses) == pytest.approx(np.array(alone.losses) + 0.1)


def test_no_compute_is_reached_by_three_sizes_on_a_two_budget_grid() -> None:
    points = chinchilla_points(np.array([2.5e4, 5.5e4, 1.5e5]), np.array([16_384, 65_536]))
    assert compute_budgets(points) == []
    assert bootstrap_frontier(points) is None


def test_published_values_are_the_cited_ones() -> None:
    assert PUBLISHED["kaplan2020_alpha_n"] == 0.076 and PUBLISHED["hoffmann2022_tokens_per_param"] == 20.0


# ---- L(N, D) ------------------------------------------------------------------------------------------------------

def test_the_joint_fit_recovers_a_chinchilla_law_from_a_grid_of_points() -> None:
    points = chinchilla_points(np.geomspace(1e4, 1e6, 6), np.geomspace(3e4, 3e6, 6))
    law = fit_joint(*joint_data(points))
    assert law.alpha == pytest.approx(ALPHA, abs=0.01) and law.beta == pytest.approx(BETA, abs=0.01)
    assert law.e == pytest.approx(1.8, abs=0.05)
    assert law(2e5, 4e5) == pytest.approx(chinchilla_loss(2e5, 4e5), rel=1e-3)


def test_the_joint_bootstrap_intervals_contain_the_true_exponents_under_noise() -> None:
    points = chinchilla_points(np.geomspace(1e4, 1e6, 6), np.geomspace(3e4, 3e6, 6))
    n, d, loss = joint_data(points)
    fit = bootstrap_joint(n, d, noisy(loss, 0.003, seed=1), resamples=40)
    assert ALPHA in fit.alpha and BETA in fit.beta
    assert fit.alpha.high - fit.alpha.low < 0.3 and fit.beta.high - fit.beta.low < 0.3


def test_the_joint_fit_refuses_a_single_budget() -> None:
    points = chinchilla_points(np.geomspace(1e4, 1e6, 8), np.array([1e5]))
    with pytest.raises(InputError, match="3 distinct D"):
        fit_joint(*joint_data(points))
