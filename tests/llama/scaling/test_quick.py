"""The quick plan end to end on the course corpus: data, 6 points, the fits and the figures (heavy: about a minute)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from zero2hero.llama.scaling.fit import bootstrap_power_law, isoflop_profiles, loss_vs_params, loss_vs_tokens
from zero2hero.llama.scaling.plan import QUICK
from zero2hero.llama.scaling.plots import power_law_figure
from zero2hero.llama.scaling.run import run_plan


@pytest.mark.heavy
def test_the_quick_plan_trains_every_point_and_fits_with_e_fixed(tmp_path: Path) -> None:
    points = run_plan(QUICK, tmp_path, progress=False)
    assert sorted((p.size, p.tokens) for p in points) == sorted(
        (size, tokens) for size in QUICK.sizes for tokens in QUICK.budgets)
    vocab = points[0].config["vocab_size"]
    assert all(p.loss < math.log(vocab) for p in points)  # every model beats the uniform guess
    for size in QUICK.sizes:  # more tokens, lower loss, for every size
        _, losses = loss_vs_tokens(points, size)
        assert losses[-1] < losses[0]
        assert (tmp_path / "weights" / f"{size}-{max(QUICK.budgets)}" / "model.safetensors").is_file()
    n, losses = loss_vs_params(points, max(QUICK.budgets))
    fit = bootstrap_power_law(n, losses, resamples=50, free_e=False)  # 3 points: E cannot be fitted too
    assert np.isfinite(fit.law.exponent) and fit.exponent.low <= fit.law.exponent <= fit.exponent.high
    figure = power_law_figure(n, losses, fit, "N", "L(N), quick plan")
    figure.savefig(tmp_path / "l_of_n.png")
    assert (tmp_path / "l_of_n.png").stat().st_size > 10_000
    # Two budgets 4× apart: the three sizes' compute ranges overlap only from s3's smallest run to s1's largest (s3
    # costs 3× what s1 costs per token, the output layer counted), so every profile sits in that narrow band.
    cost = {p.size: p.flops_per_token for p in points}
    computes = [profile.compute for profile in isoflop_profiles(points)]
    assert computes and max(computes) / min(computes) <= 4 / (cost["s3"] / cost["s1"]) * (1 + 1e-9)
