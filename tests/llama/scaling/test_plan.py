"""Plans: the grid they train, their checks, and which settings make points interchangeable."""

from __future__ import annotations

import pytest

from zero2hero.errors import InputError, UnknownNameError
from zero2hero.llama.scaling import family
from zero2hero.llama.scaling.plan import FULL, QUICK, ScalingPlan


def test_the_full_plan_spans_six_sizes_thirty_times_and_five_budgets_plus_longer_small_runs() -> None:
    counts = [family.non_embedding_params(family.llama_config(family.size_named(s), FULL.vocab_size, FULL.context))
              for s in FULL.sizes]
    assert len(FULL.sizes) >= 6 and max(counts) / min(counts) >= 30 and len(FULL.budgets) >= 4
    grid = FULL.grid()
    assert len(grid) == len(FULL.sizes) * len(FULL.budgets) + len(FULL.extra_points)
    assert ("s1", 2_097_152) in grid and len(set(grid)) == len(grid)


def test_quick_and_full_share_their_cache_but_another_recipe_does_not() -> None:
    assert QUICK.recipe_key() == FULL.recipe_key()
    assert ScalingPlan(sizes=("s1",), budgets=(4_096,), context=64).recipe_key() != QUICK.recipe_key()


def test_a_budget_below_one_step_or_an_unknown_size_is_refused() -> None:
    with pytest.raises(InputError, match="at least one step"):
        ScalingPlan(sizes=("s1",), budgets=(100,))
    with pytest.raises(UnknownNameError):
        ScalingPlan(sizes=("s1",), budgets=(4_096,), extra_points=(("s9", 4_096),))


def test_replicas_run_after_the_grid_and_leave_the_recipe_key_alone() -> None:
    plan = ScalingPlan(sizes=("s1", "s2"), budgets=(4_096, 8_192), replicas=(("s2", 4_096),))
    assert plan.runs() == [(s, t, 0) for s, t in plan.grid()] + [("s2", 4_096, 1)]
    assert plan.recipe_key() == ScalingPlan(sizes=("s1", "s2"), budgets=(4_096, 8_192)).recipe_key()
    assert ("s0", 32_768) in FULL.replicas and all(point in FULL.grid() for point in FULL.replicas)
    with pytest.raises(InputError, match="not points of the plan"):
        ScalingPlan(sizes=("s1",), budgets=(4_096,), replicas=(("s1", 8_192),))
